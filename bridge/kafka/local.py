"""A real Apache Kafka broker on loopback for tests, the demo and local runs: jars from Maven Central, KRaft mode.

    with LocalKafka() as kafka:                       # one node, broker + controller, free ports, fresh run folder
        produce_to(kafka.bootstrap_servers)
    with LocalKafkaCluster(size=3) as cluster:       # replication factor 3, min.insync.replicas=2
        cluster.kill(2); cluster.restart(2)

The jars are fetched once by Maven into `.cache/kafka/<version>/lib` (or `BRIDGE_KAFKA_CACHE`); a marker written
after a complete fetch makes an interrupted fetch run again. Every start uses a new temporary run folder and
newly picked ports, so state left behind by a killed run never breaks the next one. A JVM started from the main
thread dies with its parent (PR_SET_PDEATHSIG), so a crashed test run leaves no broker behind.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from bridge.kafka.jars import LocalKafkaError, fetch_jars, kafka_version
from bridge.kafka.processes import (
    STOP_GRACE_S,
    detach,
    die_with_parent,
    free_ports,
    pid_alive,
    stop_pid,
)

READY_MARKERS = ("Kafka Server started", "Transitioning from RECOVERY to RUNNING")

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = warn
rootLogger.level = info
rootLogger.appenderRefs = file, console
rootLogger.appenderRef.file.ref = FILE
rootLogger.appenderRef.console.ref = STDERR
"""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node's identity and ports."""

    node_id: int
    port: int
    controller_port: int


def _properties(spec: NodeSpec, voters: str, data_dir: Path, extra: dict[str, str]) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": str(spec.node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{spec.port},CONTROLLER://127.0.0.1:{spec.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{spec.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "log.cleaner.dedupe.buffer.size": "33554432",
        "auto.create.topics.enable": "true",
        "controlled.shutdown.enable": "false",
        **extra,
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


class _Node:
    """One broker JVM with its run folder; restartable with the same data."""

    def __init__(self, spec: NodeSpec, run_dir: Path, lib: Path, heap_mb: int) -> None:
        self.spec = spec
        self.run_dir = run_dir
        self._lib = lib
        self._heap_mb = heap_mb
        self.process: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / "logs" / "server.log"

    def _java(self, main: str, *args: str) -> list[str]:
        return ["java", "-cp", f"{self._lib}/*", main, *args]

    def configure(self, voters: str, cluster_id: str, extra: dict[str, str]) -> None:
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "log4j2.properties").write_text(_LOG4J2)
        config = self.run_dir / "server.properties"
        config.write_text(_properties(self.spec, voters, self.run_dir / "data", extra))
        command = [
            "java",
            "-Xmx256m",
            *self._java("kafka.tools.StorageTool")[1:],
            "format",
            f"--cluster-id={cluster_id}",
        ]
        result = subprocess.run([*command, "-c", str(config)], capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise LocalKafkaError(f"formatting node {self.spec.node_id} failed: {result.stderr[-2000:]}")

    def start(self, *, detached: bool = False) -> int:
        """Start the JVM; returns the byte offset of server.log before it, to find this start's lines."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [
            "java", f"-Xms{min(256, self._heap_mb)}m", f"-Xmx{self._heap_mb}m", "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.run_dir / 'logs'}",
            f"-Dlog4j2.configurationFile={self.run_dir / 'log4j2.properties'}",
            "-cp", f"{self._lib}/*", "kafka.Kafka", str(self.run_dir / "server.properties"),
        ]  # fmt: skip
        preexec = detach if detached or threading.current_thread() is not threading.main_thread() else die_with_parent
        with (self.run_dir / "logs" / "stdout.log").open("ab") as out:
            # preexec_fn is the only way to set PR_SET_PDEATHSIG; it runs before exec and touches no locks.
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=preexec,  # noqa: PLW1509
            )
        self.pid = self.process.pid
        return offset

    def wait_ready(self, offset: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise LocalKafkaError(f"node {self.spec.node_id} exited at start-up:\n{self.tail()}")
            if self.log_path.exists():
                with self.log_path.open("rb") as log:
                    log.seek(offset)
                    text = log.read().decode(errors="replace")
                if any(marker in text for marker in READY_MARKERS):
                    return
            time.sleep(0.2)
        raise LocalKafkaError(f"node {self.spec.node_id} not ready after {timeout_s} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no server.log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        if self.pid is not None:
            stop_pid(self.pid, grace_s)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)
        self.process, self.pid = None, None

    def kill(self) -> None:
        self.stop(grace_s=0)


def _cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


class LocalKafkaCluster:
    """`size` KRaft nodes (each broker + controller) on loopback. Constructing it does no I/O."""

    def __init__(
        self,
        size: int = 3,
        *,
        version: str | None = None,
        heap_mb: int | None = None,
        startup_timeout_s: float = 120.0,
        extra_properties: dict[str, str] | None = None,
        run_dir: Path | None = None,
    ) -> None:
        self.size = size
        self.version = version or kafka_version()
        self._heap_mb = heap_mb or (512 if size == 1 else 384)
        self._startup_timeout_s = startup_timeout_s
        self._extra = dict(extra_properties or {})
        self._run_dir = run_dir
        self._owns_run_dir = run_dir is None
        self.nodes: dict[int, _Node] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, bootstrap={self.bootstrap_servers or None!r})"

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{n.spec.port}" for n in self.nodes.values())

    @property
    def run_dir(self) -> Path | None:
        return self._run_dir

    def _shared_properties(self) -> dict[str, str]:
        replicated = self.size >= 3
        rf = "3" if replicated else "1"
        props = {
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": "2" if replicated else "1",
            "default.replication.factor": rf,
            "min.insync.replicas": "2" if replicated else "1",
            "unclean.leader.election.enable": "false",
        }
        if replicated:
            props |= {"broker.heartbeat.interval.ms": "1000", "broker.session.timeout.ms": "4000"}
        return props | self._extra

    def start(self, *, detached: bool = False) -> Self:
        """Fetch jars if needed, format fresh run folders, start every node and wait until all are ready."""
        lib = fetch_jars(self.version)
        if self._run_dir is None:
            self._run_dir = Path(tempfile.mkdtemp(prefix="crm-bridge-kafka-"))
        ports = free_ports(2 * self.size)
        specs = [NodeSpec(i + 1, ports[2 * i], ports[2 * i + 1]) for i in range(self.size)]
        voters = ",".join(f"{s.node_id}@127.0.0.1:{s.controller_port}" for s in specs)
        cluster_id = _cluster_id()
        self.nodes = {s.node_id: _Node(s, self._run_dir / f"node-{s.node_id}", lib, self._heap_mb) for s in specs}
        for node in self.nodes.values():
            node.configure(voters, cluster_id, self._shared_properties())
        try:
            offsets = {node_id: node.start(detached=detached) for node_id, node in self.nodes.items()}
            for node_id, node in self.nodes.items():
                node.wait_ready(offsets[node_id], self._startup_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, node_id: int) -> None:
        """SIGKILL one node (its data stays for a restart)."""
        self.nodes[node_id].kill()

    def restart(self, node_id: int | None = None) -> None:
        """Start a stopped or killed node again on its ports and data (all nodes when `node_id` is None)."""
        targets = [self.nodes[node_id]] if node_id is not None else list(self.nodes.values())
        for node in targets:
            if node.alive():
                node.stop()
        offsets = [(node, node.start()) for node in targets]
        for node, offset in offsets:
            node.wait_ready(offset, self._startup_timeout_s)

    def stop(self) -> None:
        """Stop every node and remove the run folder this instance created."""
        nodes = list(self.nodes.values())
        threads = [threading.Thread(target=n.stop) for n in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._owns_run_dir and self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class LocalKafka(LocalKafkaCluster):
    """A single node: broker and controller in one JVM."""

    def __init__(
        self,
        *,
        version: str | None = None,
        heap_mb: int | None = None,
        startup_timeout_s: float = 120.0,
        run_dir: Path | None = None,
    ) -> None:
        super().__init__(1, version=version, heap_mb=heap_mb, startup_timeout_s=startup_timeout_s, run_dir=run_dir)

    def pids(self) -> Sequence[int]:
        """The JVM's process id (for the CLI's state file)."""
        return [n.pid for n in self.nodes.values() if n.pid is not None]


@contextlib.contextmanager
def configured_or_local() -> Iterator[str]:
    """The bootstrap address of the cluster `BRIDGE_KAFKA__BOOTSTRAP_SERVERS` names, or of a local broker that
    lives as long as the block (benchmarks, the demo)."""
    configured = os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    with LocalKafka() as kafka:
        yield kafka.bootstrap_servers


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll `predicate` until it holds or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()
