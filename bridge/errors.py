"""The root of every error the bridge raises, and the errors shared by more than one component.

Each class says, as data, whether retrying the failed operation can help (`retryable`) and may carry
`retry_after_s`. Adapters map their libraries' errors into subclasses at the boundary, so callers decide
with a lookup, never with an `if` chain over foreign exception types. Expected outcomes of processing a
record (invalid, duplicate, stale) are return values, not exceptions.
"""

from __future__ import annotations

from typing import ClassVar


class BridgeError(Exception):
    """Root of the bridge's exceptions."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class ConfigError(BridgeError):
    """The configuration is incomplete or contradictory; fix it and start again."""


class EventError(BridgeError):
    """An event cannot be accepted as it is. Retrying the same bytes will fail the same way."""

    reason: ClassVar[str] = "invalid_event"


class MalformedEvent(EventError):
    """The bytes are not a parseable event (not JSON, not an object, missing CloudEvents attributes)."""

    reason = "malformed"


class UnknownEventType(EventError):
    """No schema is registered for the event's `type`."""

    reason = "unknown_type"


class SchemaViolation(EventError):
    """The payload does not satisfy the JSON Schema of its event type; `path` is the JSON path (`$.a.b`)."""

    reason = "schema_violation"

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(message)
        self.path = path


class EventTooLarge(EventError):
    """The encoded event is larger than the configured limit."""

    reason = "too_large"


class KafkaUnavailable(BridgeError):
    """The Kafka cluster cannot be reached or did not acknowledge in time; the operation may succeed later."""

    retryable = True


class PublishFailed(BridgeError):
    """The broker refused a record for a reason that retrying will not fix."""
