"""Authentication and authorization of the ingest, on a real server and the suite's broker.

Refused requests leave nothing on Kafka (the topics' end offsets stay 0); accepted ones carry the verified
identity on every record; tokens rotate and are revoked while the server runs.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest

from bridge.config import IngestSettings
from bridge.errors import ConfigError
from bridge.ingest import Guard
from bridge.ingest.tokens import TokenFile, write_token_file
from tests.ingest.conftest import (
    BATCH,
    CUSTOMER,
    STRUCTURED,
    Ingest,
    Schemas,
    TokenFileHandle,
    customer,
    deal,
    running_ingest,
)

pytestmark = pytest.mark.kafka

CHALLENGE = 'Bearer realm="crm-bridge"'


def _wrong_secret(token: str) -> str:
    last = "A" if token[-1] != "A" else "B"
    return token[:-1] + last


async def test_missing_or_bad_credentials_are_the_same_401_and_nothing_is_sent(
    ingest: Ingest, token_file: TokenFileHandle
) -> None:
    token = token_file.tokens["ERP"]
    known_id = token.split("_")[1]
    variants: list[dict[str, str]] = [
        {},
        {"authorization": ""},
        {"authorization": "Bearer"},
        {"authorization": f"Basic {token}"},
        {"authorization": f"Token {token}"},
        {"authorization": "Bearer not-a-token"},
        {"authorization": f"Bearer {_wrong_secret(token)}"},  # the right id, a wrong secret
        {"authorization": f"Bearer crmb_00000000_{token.split('_', 2)[2]}"},  # an unknown id, a real secret
        {"authorization": f"Bearer crmb_{known_id}_"},
        {"authorization": f"Bearer {token} extra"},
    ]
    answers = []
    for headers in variants:
        # The fixture's client sends ERP's token by default: replace the header (an empty value removes it).
        request = ingest.client.build_request("POST", "/v1/events", content=orjson.dumps(customer()))
        request.headers.pop("authorization", None)
        request.headers.update(STRUCTURED | headers)
        answers.append(await ingest.client.send(request))
    assert {a.status_code for a in answers} == {401}
    assert {a.headers["www-authenticate"] for a in answers} == {CHALLENGE}
    assert {a.content for a in answers} == {answers[0].content}  # no hint of which part was wrong
    assert answers[0].json()["error"] == "unauthorized"
    assert await ingest.end_offsets() == 0
    assert ingest.count(401) == len(variants)


async def test_the_scheme_is_case_insensitive(ingest: Ingest, token_file: TokenFileHandle) -> None:
    headers = STRUCTURED | {"authorization": f"bearer {token_file.tokens['ERP']}"}
    response = await ingest.client.post("/v1/events", content=orjson.dumps(customer()), headers=headers)
    assert response.status_code == 202, response.text


async def test_every_accepted_record_carries_the_verified_identity(ingest: Ingest, token_file: TokenFileHandle) -> None:
    events = [customer(f"C-{n}") for n in range(5)]
    batch = await ingest.client.post("/v1/events", content=orjson.dumps(events), headers=BATCH)
    single = await ingest.client.post("/v1/events", content=orjson.dumps(customer("C-9")), headers=STRUCTURED)
    assert batch.status_code == single.status_code == 202
    records = await ingest.records()
    assert len(records) == 6
    for record in records:
        headers = dict(record.headers)
        assert headers["ce_authid"] == b"ERP"
        assert headers["ce_authtype"] == b"api_key"
    assert {e.extensions["authid"] for e in await ingest.sent()} == {"ERP"}
    token_id = token_file.tokens["ERP"].split("_")[1]
    labels = {"identity": "ERP", "credential": token_id, "status": "202"}
    assert ingest.registry.get_sample_value("bridge_ingest_identity_requests_total", labels) == 2


@pytest.mark.parametrize("attribute", ["authid", "authtype", "authclaims"])
async def test_an_event_that_names_an_identity_is_refused_whole_batch_and_all(ingest: Ingest, attribute: str) -> None:
    forged = {**customer(), attribute: "Admin"}
    single = await ingest.client.post("/v1/events", content=orjson.dumps(forged), headers=STRUCTURED)
    batch = await ingest.client.post("/v1/events", content=orjson.dumps([customer(), forged]), headers=BATCH)
    assert single.status_code == batch.status_code == 403
    assert single.json()["error"] == "forged_identity"
    assert attribute in single.json()["message"]
    assert batch.json()["error"] == "forbidden_events"
    assert [(r["index"], r["error"]) for r in batch.json()["results"]] == [(1, "forged_identity")]
    assert await ingest.end_offsets() == 0


async def test_http_headers_never_become_the_identity(ingest: Ingest) -> None:
    # Binary-mode CloudEvents headers are not read by the ingest: a `ce-authid` header cannot claim anything.
    headers = STRUCTURED | {"ce-authid": "Admin", "ce-authtype": "system"}
    response = await ingest.client.post("/v1/events", content=orjson.dumps(customer()), headers=headers)
    assert response.status_code == 202
    [record] = await ingest.records()
    assert (dict(record.headers)["ce_authid"], dict(record.headers)["ce_authtype"]) == (b"ERP", b"api_key")


async def test_an_identity_publishes_only_its_sources_and_types(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle
) -> None:
    token_file.add("CRM-EU", sources=("erp://acme/*",), types=(CUSTOMER,))
    bearer = token_file.bearer("CRM-EU")
    async with running_ingest(bootstrap, schemas, token_file.path, headers=bearer) as ingest:
        allowed = await ingest.client.post(
            "/v1/events", content=orjson.dumps(customer(source="erp://acme/eu")), headers=STRUCTURED
        )
        wrong_type = await ingest.client.post(
            "/v1/events", content=orjson.dumps(deal(source="erp://acme/eu")), headers=STRUCTURED
        )
        wrong_source = await ingest.client.post(
            "/v1/events", content=orjson.dumps(customer(source="erp://other")), headers=STRUCTURED
        )
        # `?` and the rest of a URL are literal in a pattern: `erp://acme/*` does not match `erp://acme?x`.
        literal = await ingest.client.post(
            "/v1/events", content=orjson.dumps(customer(source="erp://acme?x=/eu")), headers=STRUCTURED
        )
        mixed = [customer(source="erp://acme/eu"), customer(source="erp://other"), deal(source="erp://acme/eu")]
        batch = await ingest.client.post("/v1/events", content=orjson.dumps(mixed), headers=BATCH)
        assert allowed.status_code == 202
        assert wrong_type.status_code == wrong_source.status_code == literal.status_code == 403
        assert "event type 'com.acme.crm.deal.upserted' is not allowed" in wrong_type.json()["message"]
        assert "source 'erp://other' is not allowed (allowed: erp://acme/*)" in wrong_source.json()["message"]
        assert batch.status_code == 403
        assert [r["index"] for r in batch.json()["results"]] == [1, 2]
        assert await ingest.end_offsets() == 1  # only the allowed single event


async def test_a_token_rotates_and_is_revoked_without_a_restart(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle, caplog: pytest.LogCaptureFixture
) -> None:
    old = token_file.tokens["ERP"]
    async with running_ingest(bootstrap, schemas, token_file.path, reload_interval_s=0) as ingest:

        async def post(token: str) -> int:
            headers = STRUCTURED | {"authorization": f"Bearer {token}"}
            return (
                await ingest.client.post("/v1/events", content=orjson.dumps(customer()), headers=headers)
            ).status_code

        new = token_file.add("ERP")  # rotation: the file now holds both tokens
        assert (await post(old), await post(new)) == (202, 202)
        tokens = TokenFile.model_validate_json(token_file.path.read_bytes())
        erp = tokens.identity("ERP")
        assert erp is not None
        revoked = erp.model_copy(update={"tokens": erp.tokens[1:]})
        write_token_file(token_file.path, tokens.with_identity(revoked))
        assert (await post(old), await post(new)) == (401, 202)
        # A broken file (a half-finished edit) keeps the last good tokens in force, and says so.
        token_file.path.write_text("{ not json")
        with caplog.at_level(logging.ERROR, logger="bridge.ingest.auth"):
            assert await post(new) == 202
        assert "is invalid" in caplog.text
        assert await ingest.end_offsets() == 4  # the four 202s


async def test_a_file_change_is_seen_within_the_reload_interval(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle
) -> None:
    async with running_ingest(bootstrap, schemas, token_file.path, reload_interval_s=0.5) as ingest:
        new = token_file.add("ERP")
        headers = STRUCTURED | {"authorization": f"Bearer {new}"}
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            response = await ingest.client.post("/v1/events", content=orjson.dumps(customer()), headers=headers)
            if response.status_code == 202 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
        assert response.status_code == 202


async def test_without_authentication_events_are_marked_unauthenticated(bootstrap: str, schemas: Schemas) -> None:
    async with running_ingest(bootstrap, schemas, None) as ingest:
        response = await ingest.client.post("/v1/events", content=orjson.dumps(customer()), headers=STRUCTURED)
        assert response.status_code == 202
        [record] = await ingest.records()
        headers = dict(record.headers)
        assert headers["ce_authtype"] == b"unauthenticated"
        assert "ce_authid" not in headers


def test_required_authentication_without_a_token_file_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs ingest\.tokens_file"):
        Guard.from_settings(IngestSettings())
    with pytest.raises(ConfigError, match="cannot read the ingest token file"):
        Guard.from_settings(IngestSettings(tokens_file=tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text('{"identities": [{"name": "A", "sources": [], "types": ["x"]}]}')
    with pytest.raises(ConfigError, match=r"identities\.0\.sources"):
        Guard.from_settings(IngestSettings(tokens_file=tmp_path / "bad.json"))
