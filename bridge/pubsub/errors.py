"""Errors of the Pub/Sub API, mapped from gRPC status and the `error-code` trailer into the bridge's tree."""

from __future__ import annotations

from collections.abc import Mapping

from bridge.errors import BridgeError

ERROR_CODE_PREFIX = "sfdc.platform.eventbus.grpc."


class PubSubError(BridgeError):
    """A Pub/Sub API call failed. Any error ends the stream; `retryable` says if resubscribing helps."""

    retryable = True

    def __init__(self, message: str, *, error_code: str = "", retry_after_s: float | None = None) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.error_code = error_code


class PubSubUnavailable(PubSubError):
    """The service is down or the connection broke: back off, then resubscribe from the stored replay id."""


class PubSubAuthError(PubSubError):
    """The access token was refused (expired, revoked): log in again, then resubscribe."""


class ReplayIdInvalid(PubSubError):
    """The stored replay id is unknown or past retention: events were lost; reconcile, then resume."""


class TopicNotFound(PubSubError):
    """The channel does not exist or is not enabled for change data capture; a configuration error."""

    retryable = False


class TopicNotPublishable(PubSubError):
    """The topic takes no publishes (a change event channel, or no permission); a configuration error."""

    retryable = False


class PubSubLimitExceeded(PubSubError):
    """The org's 24-hour event delivery allocation is spent; stay disconnected and resume later."""


_BY_SUFFIX: Mapping[str, type[PubSubError]] = {
    "service.unavailable": PubSubUnavailable,
    "service.auth.error": PubSubAuthError,
    "service.auth.headers.invalid": PubSubAuthError,
    "service.auth.refresh.invalid": PubSubAuthError,
    "subscription.fetch.replayid.corrupted": ReplayIdInvalid,
    "subscription.fetch.replayid.validation.failed": ReplayIdInvalid,
    "topic.not.found": TopicNotFound,
    "subscription.limit.exceeded": PubSubLimitExceeded,
}


def error_for_code(error_code: str, message: str) -> PubSubError:
    """The exception for an `error-code` trailer value (unknown codes are retryable stream failures)."""
    suffix = error_code.removeprefix(ERROR_CODE_PREFIX)
    return _BY_SUFFIX.get(suffix, PubSubError)(f"{message} [{error_code or 'no error-code'}]", error_code=error_code)
