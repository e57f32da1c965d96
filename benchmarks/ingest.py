"""HTTP ingest throughput with its security on (bearer token, TLS, grants, rate limits) beside the same ingest
with it off (no authentication, plain HTTP), same broker, same events, same requests.

    .venv/bin/python benchmarks/ingest.py [--events 20000] [--batch 500] [--clients 4] [--rounds 3]

Both servers run the bridge's ingest routes on uvicorn in this process, each with its own Publisher (idempotent,
acks=all); `--clients` concurrent HTTP/1.1 keep-alive clients post batches of `--batch` events until every event
is acknowledged (202). Rounds alternate (open, secured, open, ...) on fresh topics; the medians are reported. The
script also times steps alone, without I/O: the token check per request, and strict JSON (both servers parse
that way) beside orjson alone per event.
Starts its own local broker unless BRIDGE_KAFKA__BOOTSTRAP_SERVERS is set. Writes results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import shutil
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bridge.config import IngestSettings, KafkaSettings, ProcessorSettings, Settings
from bridge.demo.dataset import demo_events
from bridge.events import to_structured
from bridge.ingest import Guard, ReloadingTLS, ingest_routes
from bridge.ingest.body import strict_json
from bridge.ingest.tokens import IdentityEntry, TokenFile, new_token, write_token_file
from bridge.kafka.topics import TopicSpec, ensure_topics
from bridge.metrics import Metrics
from bridge.publisher import Publisher
from bridge.server import ConnectionLimits, WorkerServer, create_app

RESULTS = Path(__file__).resolve().parent / "results" / "ingest.json"
SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
TYPES = ("com.acme.crm.customer.upserted", "com.acme.crm.deal.upserted")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _schemas(directory: Path, suffix: str) -> tuple[Path, list[str]]:
    """A copy of `schemas/` whose types go to topics of this round."""
    target = directory / f"schemas-{suffix}"
    shutil.copytree(SCHEMAS, target)
    topics = []
    for event_type in TYPES:
        path = target / "events" / f"{event_type}.schema.json"
        schema = orjson.loads(path.read_bytes())
        schema["x-bridge"]["topic"] = f"bench.ingest.{suffix}.{event_type.split('.')[-2]}"
        topics.append(schema["x-bridge"]["topic"])
        path.write_bytes(orjson.dumps(schema))
    return target, topics


@contextlib.asynccontextmanager
async def _server(
    bootstrap: str, schemas: Path, ingest: IngestSettings, tls: ReloadingTLS | None
) -> AsyncIterator[WorkerServer]:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        ingest=ingest,
        processor=ProcessorSettings(schemas_dir=schemas),
    )
    metrics = Metrics.create()
    async with Publisher(settings, metrics=metrics) as publisher:
        app = create_app(metrics.registry, {}, routes=ingest_routes(publisher, ingest, metrics))
        limits = ConnectionLimits(ingest.header_timeout_s, ingest.max_connections)
        async with WorkerServer(app, tls=tls.context if tls else None, limits=limits) as server:
            yield server


async def _drive(url: str, bodies: list[bytes], clients: int, headers: dict[str, str], verify: Any) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, verify=verify, timeout=60, headers=headers) as http:
            await http.post("/v1/events", content=bodies[0])  # connect (and handshake) before the clock
            await ready.wait()
            while not queue.empty():
                body = queue.get_nowait()
                response = await http.post("/v1/events", content=body)
                assert response.status_code == 202, response.text

    ready = asyncio.Event()
    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    ready.set()
    await asyncio.gather(*tasks)
    return time.perf_counter() - started


async def _round(bootstrap: str, work: Path, args: argparse.Namespace, secured: bool, bodies: list[bytes]) -> float:
    suffix = f"{'secured' if secured else 'open'}-{uuid.uuid4().hex[:8]}"
    schemas, topics = _schemas(work, suffix)
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), [TopicSpec(t, 6, 1, {}) for t in topics])
    headers = {"content-type": "application/cloudevents-batch+json"}
    common = {"max_batch_events": args.batch, "rate_per_s": 1e9, "burst_events": 10**9}
    if secured:
        token, entry = new_token()
        tokens = work / f"tokens-{suffix}.json"
        grants = IdentityEntry(name="ERP", sources=["erp://*"], types=["com.acme.crm.*"], tokens=[entry])
        write_token_file(tokens, TokenFile(identities=(grants,)))
        cert, key = _self_signed(work)
        ingest = IngestSettings(tokens_file=tokens, tls_cert_file=cert, tls_key_file=key, **common)
        tls, verify = ReloadingTLS(cert, key), ssl.create_default_context(cafile=cert)
        headers["authorization"] = f"Bearer {token}"
    else:
        ingest, tls, verify = IngestSettings(auth="none", **common), None, True
    async with _server(bootstrap, schemas, ingest, tls) as server:
        elapsed = await _drive(server.url, bodies, args.clients, headers, verify)
    return (len(bodies) * args.batch) / elapsed


def _best_us(work: Callable[[], object], items: int, repeats: int = 5) -> float:
    """The best of `repeats` timings of `work`, in microseconds per item."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best / items * 1e6


def _security_steps(bodies: list[bytes], batch: int, work: Path) -> dict[str, float]:
    token, entry = new_token()
    path = work / "tokens-steps.json"
    write_token_file(path, TokenFile(identities=(IdentityEntry(name="E", sources=["*"], types=["*"], tokens=[entry]),)))
    guard = Guard.from_settings(IngestSettings(tokens_file=path))
    header = f"Bearer {token}"
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        guard.identify(header, None)
    auth_us = (time.perf_counter() - started) / n * 1e6
    sample = bodies[:20]
    plain_us = _best_us(lambda: [orjson.loads(body) for body in sample], 20 * batch)
    strict_us = _best_us(lambda: [strict_json(body) for body in sample], 20 * batch)
    return {
        "token_check_us_per_request": auth_us,
        "orjson_us_per_event": plain_us,
        "strict_json_us_per_event": strict_us,
    }


async def measure(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    events = [to_structured(e) for e in demo_events(args.events, run_id=f"bench-{uuid.uuid4().hex[:6]}")]
    bodies = [orjson.dumps(events[i : i + args.batch]) for i in range(0, len(events) - args.batch + 1, args.batch)]
    opened: list[float] = []
    secured: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as directory:
        work = Path(directory)
        for round_no in range(args.rounds):
            opened.append(await _round(bootstrap, work, args, False, bodies))
            secured.append(await _round(bootstrap, work, args, True, bodies))
            print(f"round {round_no + 1}: open {opened[-1]:,.0f} ev/s, secured {secured[-1]:,.0f} ev/s", flush=True)
        steps = _security_steps(bodies, args.batch, work)
    open_eps, secured_eps = statistics.median(opened), statistics.median(secured)
    return {
        "events": len(bodies) * args.batch,
        "batch": args.batch,
        "clients": args.clients,
        "rounds": args.rounds,
        "open_events_per_s": round(open_eps, 1),
        "secured_events_per_s": round(secured_eps, 1),
        "ratio": round(secured_eps / open_eps, 3),
        **{key: round(value, 2) for key, value in steps.items()},
        "open_rounds": [round(x, 1) for x in opened],
        "secured_rounds": [round(x, 1) for x in secured],
        "open": "ingest.auth=none, plain HTTP; the same routes, Publisher and strict JSON (which is not optional)",
        "secured": "bearer token (SHA-256, constant-time), TLS 1.2+ (ECDSA P-256), grants per event, rate limit",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "broker": bootstrap if os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS") else "local (started)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from bridge.kafka.local import configured_or_local

    with configured_or_local() as bootstrap:
        result = asyncio.run(measure(bootstrap, args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"open ingest:    {result['open_events_per_s']:,.0f} events/s\n"
        f"secured ingest: {result['secured_events_per_s']:,.0f} events/s\n"
        f"ratio:          {result['ratio']:.2f}   -> {RESULTS}\n"
        f"token check {result['token_check_us_per_request']:.1f} us/request; JSON: orjson "
        f"{result['orjson_us_per_event']:.1f} us/event, strict {result['strict_json_us_per_event']:.1f} us/event"
    )


if __name__ == "__main__":
    main()
