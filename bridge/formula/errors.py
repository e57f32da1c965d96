"""The formula engine's errors: a formula the org would refuse, and a formula or value we cannot decide locally."""

from __future__ import annotations

from bridge.errors import BridgeError


class FormulaError(BridgeError):
    """The formula text is not valid Salesforce formula syntax or mixes types; `position` is a 0-based offset."""

    def __init__(self, message: str, *, position: int | None = None, text: str | None = None) -> None:
        self.position = position
        if position is not None and text is not None:
            line = text.count("\n", 0, position) + 1
            column = position - (text.rfind("\n", 0, position) + 1) + 1
            message = f"{message} (line {line}, column {column})"
        super().__init__(message)


class NotEvaluable(BridgeError):
    """The formula uses something this engine does not support, or needs data the caller did not provide."""
