"""A local stand-in for a Salesforce org: REST, Collections, Composite, query, Bulk API 2.0, limits, triggers.

The bridge's runtime never imports this package; tests, the demo and the `crm-bridge emulator` command do.
"""

from bridge.emulator.app import create_app
from bridge.emulator.clock import EmulatorClock
from bridge.emulator.latency import LatencyModel
from bridge.emulator.org import Org
from bridge.emulator.profile import Profile, load_profile
from bridge.emulator.server import EmulatorServer

__all__ = ["EmulatorClock", "EmulatorServer", "LatencyModel", "Org", "Profile", "create_app", "load_profile"]
