/**
 * The only trigger on Opportunity: every rule lives in a TriggerHandler, in this order.
 */
trigger OpportunityTrigger on Opportunity(
    before insert,
    before update,
    after insert,
    after update,
    after delete,
    after undelete
) {
    TriggerHandler.dispatch(
        new List<TriggerHandler>{ new OpportunityAmountGuardHandler(), new OpportunityAmountRollupHandler() }
    );
}
