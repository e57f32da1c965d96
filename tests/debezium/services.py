"""A throwaway PostgreSQL server (initdb/pg_ctl in a temp dir, logical decoding on) and a Kafka Connect worker
with Debezium's PostgreSQL connector (jars from Maven Central through `kafka/connect/pom.xml`), for the test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONNECT_POM = ROOT / "kafka" / "connect" / "pom.xml"
CONNECT_LIB = ROOT / ".cache" / "connect" / "lib"
PG_BIN_DIRS = (
    Path("/usr/lib/postgresql/15/bin"),
    Path("/usr/lib/postgresql/16/bin"),
    Path("/usr/lib/postgresql/17/bin"),
)


def pg_bin(name: str) -> str | None:
    """A PostgreSQL server binary: on PATH, or in Debian's versioned directory."""
    found = shutil.which(name)
    if found:
        return found
    return next((str(d / name) for d in PG_BIN_DIRS if (d / name).exists()), None)


def missing() -> str | None:
    """Why the test cannot run here, or None."""
    absent = [n for n in ("initdb", "pg_ctl") if pg_bin(n) is None] + [
        n for n in ("psql", "java", "mvn") if not shutil.which(n)
    ]
    if absent:
        return f"not installed: {', '.join(absent)} (make debezium-tools installs them)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user the Debian package creates."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Postgres:
    """One server on a free loopback port, trusting local connections."""

    def __init__(self) -> None:
        # Its own directory under /tmp: pytest's are private to root, and the server runs as `postgres`.
        self.workdir = Path(tempfile.mkdtemp(prefix="crm-bridge-pg-"))
        self.data = self.workdir / "pgdata"
        self.port = _free_port()

    def psql(self, sql: str) -> str:
        cmd = [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-qAtc",
            sql,
        ]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30).stdout

    def start(self) -> None:
        self.workdir.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        assert initdb
        assert pg_ctl
        subprocess.run(
            _as_postgres([initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = (
            "-c wal_level=logical -c max_wal_senders=4 -c max_replication_slots=4 -c listen_addresses=127.0.0.1"
            f" -c port={self.port} -c unix_socket_directories={self.workdir}"
        )
        log = self.workdir / "postgres.log"
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(self.data), "-l", str(log), "-o", options, "-w", "start"]),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def stop(self) -> None:
        pg_ctl = pg_bin("pg_ctl")
        assert pg_ctl
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
            timeout=60,
        )


@contextmanager
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def fetch_connect() -> Path:
    """The Connect + Debezium jars, fetched once into `.cache/connect/lib`."""
    if not any(CONNECT_LIB.glob("debezium-connector-postgres-*.jar")):
        subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                str(CONNECT_POM),
                "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies",
                f"-DoutputDirectory={CONNECT_LIB}",
                "-DincludeScope=runtime",
            ],
            check=True,
            timeout=900,
        )
    return CONNECT_LIB


@contextmanager
def connect_worker(workdir: Path, bootstrap: str, pg: Postgres, prefix: str) -> Iterator[subprocess.Popen[bytes]]:
    """A standalone Connect worker running Debezium's PostgreSQL connector on `public.customers`."""
    lib = fetch_connect()
    worker = workdir / "worker.properties"
    worker.write_text(
        f"bootstrap.servers={bootstrap}\n"
        "key.converter=org.apache.kafka.connect.json.JsonConverter\n"
        "value.converter=org.apache.kafka.connect.json.JsonConverter\n"
        "key.converter.schemas.enable=false\nvalue.converter.schemas.enable=true\n"
        f"offset.storage.file.filename={workdir / 'offsets'}\noffset.flush.interval.ms=1000\n"
        f"listeners=http://127.0.0.1:{_free_port()}\nplugin.discovery=only_scan\n"
    )
    connector = workdir / "postgres.properties"
    connector.write_text(
        "name=pg\nconnector.class=io.debezium.connector.postgresql.PostgresConnector\ntasks.max=1\n"
        f"database.hostname=127.0.0.1\ndatabase.port={pg.port}\ndatabase.user=postgres\ndatabase.password=x\n"
        f"database.dbname=postgres\ntopic.prefix={prefix}\nplugin.name=pgoutput\nslot.name=bridge_test\n"
        "table.include.list=public.customers\ndecimal.handling.mode=precise\ntime.precision.mode=adaptive\n"
    )
    log4j = workdir / "log4j2.properties"
    log4j.write_text(
        "rootLogger.level=INFO\nrootLogger.appenderRef.f.ref=F\nappender.f.type=File\nappender.f.name=F\n"
        f"appender.f.fileName={workdir / 'connect.log'}\nappender.f.layout.type=PatternLayout\n"
        "appender.f.layout.pattern=%d %p %c %m%n\n"
    )
    out = (workdir / "connect.out").open("wb")
    process = subprocess.Popen(
        [
            "java",
            "-Xmx384m",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{lib}/*",
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(worker),
            str(connector),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()
