"""The test double and local org: a stand-in for a Salesforce org (REST, Collections, Composite, query, Bulk API
2.0, limits, triggers, Pub/Sub API) that the bridge's tests, its demo and `crm-bridge emulator` run against.

This module is its front door: what it exports is the emulator's public surface for the rest of `bridge` (the
CLI and the demo import nothing else; tests may reach inside). The bridge's runtime never imports this package,
and the emulator never imports the runtime (import-linter contracts in pyproject.toml); it shares only the pure
core (`bridge.formula`, `bridge.errors`), the trigger map's types (`bridge.mediation`) and the Pub/Sub API's
stubs and Avro codec (`bridge.pubsub`). See README.md beside it.
"""

from bridge.emulator.app import create_app
from bridge.emulator.clock import EmulatorClock
from bridge.emulator.latency import LatencyModel
from bridge.emulator.mediation import trigger_map
from bridge.emulator.org import Org
from bridge.emulator.profile import Profile, ProfileError, is_bundled_name, load_profile
from bridge.emulator.server import EmulatorServer

__all__ = [
    "EmulatorClock",
    "EmulatorServer",
    "LatencyModel",
    "Org",
    "Profile",
    "ProfileError",
    "create_app",
    "is_bundled_name",
    "load_profile",
    "trigger_map",
]
