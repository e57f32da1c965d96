"""The Salesforce adapter: an async REST / Composite / Collections / Bulk API 2.0 client with OAuth flows."""

from bridge.salesforce.auth import ClientCredentials, JwtBearer, SalesforceAuth, Session, auth_from_settings
from bridge.salesforce.bulk import BulkResult
from bridge.salesforce.client import SalesforceClient
from bridge.salesforce.errors import (
    ApexCpuLimit,
    AuthenticationFailed,
    BulkJobTimeout,
    ConcurrentRequestLimit,
    InvalidRequest,
    MultipleMatches,
    NotFound,
    ParentNotFound,
    RecordLocked,
    RequestLimitExceeded,
    RolledBack,
    SalesforceError,
    ServerUnavailable,
    SessionExpired,
    TransportError,
    classify,
)
from bridge.salesforce.limits import LimitInfo
from bridge.salesforce.results import RecordError, SaveResult, SubResponse

__all__ = [
    "ApexCpuLimit",
    "AuthenticationFailed",
    "BulkJobTimeout",
    "BulkResult",
    "ClientCredentials",
    "ConcurrentRequestLimit",
    "InvalidRequest",
    "JwtBearer",
    "LimitInfo",
    "MultipleMatches",
    "NotFound",
    "ParentNotFound",
    "RecordError",
    "RecordLocked",
    "RequestLimitExceeded",
    "RolledBack",
    "SalesforceAuth",
    "SalesforceClient",
    "SalesforceError",
    "SaveResult",
    "ServerUnavailable",
    "Session",
    "SessionExpired",
    "SubResponse",
    "TransportError",
    "auth_from_settings",
    "classify",
]
