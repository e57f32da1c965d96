"""Errors of trigger mediation; Salesforce's own errors pass through from `bridge.salesforce`."""

from __future__ import annotations

from bridge.errors import BridgeError


class MediationError(BridgeError):
    """Mediation cannot read or change the bypass setting as asked."""


class UserNotFound(MediationError):
    """No active user has the username; check `--user` or `BRIDGE_SALESFORCE__USERNAME`."""
