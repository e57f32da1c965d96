"""Replay ids: opaque bytes to the subscriber; the emulator encodes them as 8-byte big-endian counters."""

from __future__ import annotations

from typing import NamedTuple


class ReplayId(NamedTuple):
    """A replay id as stored in checkpoints: the raw bytes, never parsed by the subscriber."""

    raw: bytes

    @classmethod
    def from_counter(cls, value: int) -> ReplayId:
        """The emulator's encoding (what Salesforce is observed to send): unsigned 64-bit big-endian."""
        return cls(value.to_bytes(8, "big"))

    def counter(self) -> int:
        """The emulator-side position; only the emulator and tests may read it."""
        return int.from_bytes(self.raw, "big")

    def hex(self) -> str:
        """Printable form for logs and checkpoint records."""
        return self.raw.hex()

    @classmethod
    def from_hex(cls, text: str) -> ReplayId:
        """Parse the printable form back into the raw bytes."""
        return cls(bytes.fromhex(text))
