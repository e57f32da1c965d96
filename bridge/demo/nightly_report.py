"""The nightly sync's report: what happened, the figures, and which invariant failed (if any).

`report.failures` lists every broken invariant in plain words; the CLI exits non-zero when it is not empty.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from bridge.demo.observe import by_label, total
from bridge.demo.scenario import BY_CRM, PRE_VALIDATION, Scenario
from bridge.demo.verify import OrgCheck, samples

if TYPE_CHECKING:
    from bridge.demo.observe import Outcomes
    from bridge.demo.stack import LocalStack

_CRM_STAGE = "sink"  # dead letters of the sink are the CRM's refusals; every other stage is the processor's
COLLECTIONS_RECORDS_PER_CALL = 200


def _caught(stage: str) -> str:
    return BY_CRM if stage == _CRM_STAGE else PRE_VALIDATION


@dataclass(slots=True)
class NightlyReport:
    """Everything the demo prints and writes as JSON."""

    wall_s: float
    events_published: int
    events_distinct: int
    records_expected: int
    records_in_crm: dict[str, int]
    written_events: int
    skipped: dict[str, int]
    dead_lettered: dict[str, dict[str, int]]
    rejections_pre_validation: int
    rejections_by_crm: int
    api_calls: int
    api_calls_minimum: int
    api_calls_by_kind: dict[str, int]
    bulk_jobs: int
    daily_limit: int
    limit_errors: int
    trigger_cpu_errors: int
    retries: int
    duplicates_in_crm: list[str]
    missing_in_crm: list[str]
    wrong_in_crm: list[str]
    deletes_expected: int
    deletes_applied: int
    resurrected: int
    change_events: int
    echoes_tagged: int
    metrics_urls: dict[str, str]
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every invariant held."""
        return not self.failures

    @property
    def api_calls_ratio(self) -> float:
        """API calls over the Collections minimum (1.0 is the least any sync of these records can spend)."""
        return self.api_calls / self.api_calls_minimum if self.api_calls_minimum else 0.0

    @property
    def api_share(self) -> float:
        """The share of the daily API allocation the sync used."""
        return self.api_calls / self.daily_limit if self.daily_limit else 0.0

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON document."""
        return asdict(self) | {
            "ok": self.ok,
            "api_share_of_daily_limit": round(self.api_share, 4),
            "api_calls_over_minimum": round(self.api_calls_ratio, 3),
        }


def api_calls_minimum(records_by_sobject: dict[str, int], deletes: int = 0) -> int:
    """The least a Collections sync of these records can spend: one call per 200 records of each SObject, two per
    200 deletes (Collections delete takes Ids: a query finds them), plus the token request (Salesforce does not
    count OAuth token requests; the figure keeps it as the issue defines)."""
    upserts = sum(math.ceil(n / COLLECTIONS_RECORDS_PER_CALL) for n in records_by_sobject.values())
    return upserts + 2 * math.ceil(deletes / COLLECTIONS_RECORDS_PER_CALL) + 1


def _written(records_by_sobject: dict[str, int], scenario: Scenario) -> dict[str, int]:
    """Records written: those in the org and those deleted after their write."""
    written = dict(records_by_sobject)
    for sobject, _ in scenario.deleted:
        written[sobject] = written.get(sobject, 0) + 1
    return written


def build_report(
    scenario: Scenario,
    outcomes: Outcomes,
    check: OrgCheck,
    *,
    metrics: dict[str, dict[str, float]],
    published: int,
    api_calls: int,
    wall_s: float,
    stack: LocalStack,
) -> NightlyReport:
    """Join the scenario, the outcomes read from Kafka, the org check and the roles' metrics."""
    processor, sink = metrics.get("processor", {}), metrics.get("sink", {})
    letters = outcomes.reasons_by_stage()
    report = NightlyReport(
        wall_s=round(wall_s, 2),
        events_published=published,
        events_distinct=len(scenario.distinct_ids),
        records_expected=len(scenario.expected),
        records_in_crm=check.records,
        written_events=len(outcomes.written_ids),
        skipped={k: int(v) for k, v in by_label(processor, "bridge_dedupe_skips_total", "reason").items()},
        dead_lettered={stage: dict(reasons) for stage, reasons in letters.items()},
        rejections_pre_validation=sum(sum(c.values()) for stage, c in letters.items() if stage != _CRM_STAGE),
        rejections_by_crm=sum(letters.get(_CRM_STAGE, Counter()).values()),
        api_calls=api_calls,
        api_calls_minimum=api_calls_minimum(_written(check.records, scenario), len(scenario.deleted)),
        api_calls_by_kind={k: int(v) for k, v in _calls_by_kind(metrics).items()},
        daily_limit=stack.options.daily_limit,
        **_sink_figures(sink),
        duplicates_in_crm=samples(check.duplicates),
        missing_in_crm=samples(check.missing),
        wrong_in_crm=samples(check.wrong),
        deletes_expected=len(scenario.deleted),
        deletes_applied=check.deletes_applied,
        resurrected=len(check.resurrected),
        change_events=outcomes.changes,
        echoes_tagged=outcomes.echoes,
        metrics_urls=dict(stack.metrics_urls),
    )
    report.failures = _failures(scenario, outcomes, check, report, processor)
    return report


class _SinkFigures(TypedDict):
    bulk_jobs: int
    limit_errors: int
    trigger_cpu_errors: int
    retries: int


def _sink_figures(sink: dict[str, float]) -> _SinkFigures:
    """What the sink's metrics say of the run: Bulk jobs, limit and Apex CPU errors, retries."""
    return {
        "bulk_jobs": int(total(sink, "bridge_batch_size_records_count", path="bulk")),
        "limit_errors": int(total(sink, "bridge_salesforce_limit_errors_total")),
        "trigger_cpu_errors": int(total(sink, "bridge_salesforce_trigger_cpu_errors_total")),
        "retries": int(total(sink, "bridge_retries_total")),
    }


def _calls_by_kind(metrics: dict[str, dict[str, float]]) -> Counter[str]:
    """API requests of every role by kind (`collections`, `bulk`, `query`, ...), token requests left out."""
    calls: Counter[str] = Counter()
    for role_samples in metrics.values():
        for kind, n in by_label(role_samples, "bridge_salesforce_api_calls_total", "kind").items():
            if kind != "auth":
                calls[kind] += int(n)
    return calls


def _failures(
    scenario: Scenario, outcomes: Outcomes, check: OrgCheck, report: NightlyReport, processor: dict[str, float]
) -> list[str]:
    failures: list[str] = []
    accounted_by_processor = int(total(processor, "bridge_events_total"))
    if accounted_by_processor != report.events_published:
        failures.append(
            f"conservation: {report.events_published} events published, the processor accounted for "
            f"{accounted_by_processor}"
        )
    if report.limit_errors:
        failures.append(f"never locked out: {report.limit_errors} REQUEST_LIMIT_EXCEEDED answers")
    if check.duplicates:
        failures.append(f"idempotent writes: {len(check.duplicates)} external ids exist more than once")
    if check.missing or check.wrong or check.unexpected:
        failures.append(
            f"every valid record right: {len(check.missing)} missing, {len(check.wrong)} with wrong values, "
            f"{len(check.unexpected)} that should not exist"
        )
    if check.resurrected:
        failures.append(
            f"deletes hold: {len(check.resurrected)} deleted records are back (e.g. {check.resurrected[0]})"
        )
    elif check.deletes_applied != len(scenario.deleted):
        failures.append(f"deletes: {check.deletes_applied} of {len(scenario.deleted)} applied")
    failures += _rejection_failures(scenario, outcomes)
    if report.change_events == 0:
        failures.append("no change events flowed back from the CRM")
    elif report.echoes_tagged != report.change_events:
        failures.append(
            f"no echo loops: {report.change_events - report.echoes_tagged} of our own writes' change events "
            "were not tagged as echoes"
        )
    return failures


def _rejection_failures(scenario: Scenario, outcomes: Outcomes) -> list[str]:
    stage_of_id = {event_id: letter.stage for ids, letter in outcomes.letters.items() for event_id in ids}
    failures: list[str] = []
    not_rejected = [i for i in scenario.must_reject if i not in stage_of_id]
    if not_rejected:
        failures.append(f"{len(not_rejected)} invalid events were not dead-lettered (e.g. {not_rejected[:3]})")
    valid_ids = scenario.distinct_ids - set(scenario.must_reject)
    wrongly = sorted(valid_ids & set(stage_of_id))
    if wrongly:
        failures.append(f"{len(wrongly)} valid events were dead-lettered (e.g. {wrongly[:3]})")
    late = [i for i, r in scenario.must_reject.items() if i in stage_of_id and _caught(stage_of_id[i]) != r.caught]
    if late:
        failures.append(f"{len(late)} invalid events were caught at the wrong stage (e.g. {late[:3]})")
    reason_of_id = {event_id: letter.reason for ids, letter in outcomes.letters.items() for event_id in ids}
    wrong_reason = sorted(
        i for i, r in scenario.must_reject.items() if r.caught == BY_CRM and reason_of_id.get(i, r.rule) != r.rule
    )
    if wrong_reason:
        example = wrong_reason[0]
        failures.append(
            f"{len(wrong_reason)} events refused by the CRM for the wrong reason (e.g. {example}: "
            f"{reason_of_id[example]}, expected {scenario.must_reject[example].rule})"
        )
    return failures
