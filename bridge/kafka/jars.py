"""The local broker's jars: fetched once by Maven from Maven Central into `.cache/kafka/<version>/lib`.

    lib = fetch_jars()        # the folder of kafka_2.13-*.jar and its runtime dependencies

A marker written after a complete fetch makes an interrupted fetch run again (`BRIDGE_KAFKA_CACHE` moves the
cache, `BRIDGE_KAFKA_VERSION` pins another version, `BRIDGE_KAFKA_POM` another pom).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bridge.errors import BridgeError

DEFAULT_VERSION = "4.1.1"


class LocalKafkaError(BridgeError):
    """The local broker could not be fetched, formatted or started; the message carries the log's tail."""


def kafka_version() -> str:
    """The pinned broker version (`BRIDGE_KAFKA_VERSION` overrides it, e.g. 3.9.1)."""
    return os.environ.get("BRIDGE_KAFKA_VERSION", DEFAULT_VERSION)


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """Where jars and the CLI's broker state live (gitignored)."""
    return Path(os.environ.get("BRIDGE_KAFKA_CACHE", _repo_root() / ".cache" / "kafka"))


def _pom() -> Path:
    pom = Path(os.environ.get("BRIDGE_KAFKA_POM", _repo_root() / "kafka" / "pom.xml"))
    if not pom.exists():
        raise LocalKafkaError(f"no pom.xml for the broker's jars at {pom} (set BRIDGE_KAFKA_POM)")
    return pom


def fetch_jars(version: str | None = None) -> Path:
    """The folder of the broker's jars, fetched through Maven when missing or incomplete."""
    version = version or kafka_version()
    lib = cache_dir() / version / "lib"
    marker = lib / ".complete"
    if marker.exists():
        return lib
    staging = cache_dir() / version / f"lib.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        "mvn", "-B", "-q", "-f", str(_pom()),
        "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime", f"-Dkafka.version={version}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        raise LocalKafkaError(f"maven could not fetch Kafka {version}: {(result.stdout + result.stderr)[-2000:]}")
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    marker.write_text(version)
    return lib
