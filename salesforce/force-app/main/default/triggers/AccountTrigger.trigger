/**
 * The only trigger on Account: every rule lives in a TriggerHandler, in this order.
 */
trigger AccountTrigger on Account(before insert, before update, after update) {
    TriggerHandler.dispatch(
        new List<TriggerHandler>{
            new AccountNormalizeHandler(),
            new AccountRatingHandler(),
            new AccountNotificationHandler(),
            new AccountOwnerCascadeHandler()
        }
    );
}
