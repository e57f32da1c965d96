"""The composition root: builds the real adapters from `Settings` and runs the worker roles of a deployment."""

from bridge.runtime.roles import ROLES, Role

__all__ = ["ROLES", "Role"]
