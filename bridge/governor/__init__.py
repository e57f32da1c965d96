"""The governor: how many Salesforce API calls the bridge may spend, when, and on which lane."""

from bridge.governor.bucket import TokenBucket
from bridge.governor.core import (
    DAY_S,
    Decision,
    Governor,
    GovernorState,
    Granted,
    LimitReport,
    Permit,
    Wait,
    WaitReason,
)
from bridge.governor.gate import GovernorGate

__all__ = [
    "DAY_S",
    "Decision",
    "Governor",
    "GovernorGate",
    "GovernorState",
    "Granted",
    "LimitReport",
    "Permit",
    "TokenBucket",
    "Wait",
    "WaitReason",
]
