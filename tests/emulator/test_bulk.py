"""Bulk API 2.0 ingest: the pure job state machine and CSV handling, then the HTTP lifecycle through the app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import requests
from simple_salesforce import Salesforce
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from bridge.emulator.app import create_app
from bridge.emulator.bulk import CHUNK_RECORDS, BulkError, IngestJob, format_time, sf_error
from bridge.emulator.org import Org
from bridge.emulator.routes_bulk import BulkIngest
from bridge.emulator.routes_query import error_response
from bridge.emulator.server import EmulatorServer

NOW = datetime(2026, 3, 10, 12, 0, 1, 234000, tzinfo=UTC)
ACCOUNT = {
    "name": "Account",
    "fields": [
        {"name": "Id", "type": "id"},
        {"name": "Name", "type": "string"},
        {"name": "External_Id__c", "type": "string", "externalId": True},
        {"name": "NumberOfEmployees", "type": "int"},
        {"name": "AnnualRevenue", "type": "currency"},
        {"name": "IsActive__c", "type": "boolean"},
        {"name": "ParentId", "type": "reference", "referenceTo": ["Account"], "relationshipName": "Parent"},
    ],
}


def new_job(**body: Any) -> IngestJob:
    request = {"object": "Account", "operation": "upsert", "externalIdFieldName": "external_id__c", **body}
    return IngestJob.create(
        request,
        job_id="7505g0000000001AAA",
        user_id="0055g0000000001AAA",
        api_version="60.0",
        now=NOW,
        describe=ACCOUNT,
    )


def test_create_reports_the_documented_job_info() -> None:
    info = new_job().info(full=False)
    assert info == {
        "id": "7505g0000000001AAA",
        "operation": "upsert",
        "object": "Account",
        "createdById": "0055g0000000001AAA",
        "createdDate": "2026-03-10T12:00:01.234+0000",
        "systemModstamp": "2026-03-10T12:00:01.234+0000",
        "state": "Open",
        "externalIdFieldName": "External_Id__c",
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": 60.0,
        "jobType": "V2Ingest",
        "contentUrl": "services/data/v60.0/jobs/ingest/7505g0000000001AAA/batches",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    assert new_job().info()["numberRecordsProcessed"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"operation": "merge"}, "Invalid operation: merge"),
        ({"externalIdFieldName": None}, "externalIdFieldName is required"),
        ({"externalIdFieldName": "Name"}, "The field Name is not an External Id field"),
        ({"lineEnding": "CR"}, "lineEnding must be LF or CRLF"),
        ({"contentType": "JSON"}, "contentType must be CSV"),
    ],
)
def test_create_refuses_bad_jobs(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BulkError) as caught:
        new_job(**body)
    assert caught.value.error_code == "INVALIDJOB"
    assert message in caught.value.message
    assert caught.value.status == 400


def test_unknown_object() -> None:
    with pytest.raises(BulkError, match="Unable to find object: Nope"):
        IngestJob.create(
            {"object": "Nope", "operation": "insert"},
            job_id="x",
            user_id="y",
            api_version="60.0",
            now=NOW,
            describe=None,
        )


def test_csv_values_are_typed_by_field_and_chunked() -> None:
    job = new_job()
    rows = "".join(f"A-{n},Name {n},{n},1.5,true,#N/A,\n" for n in range(CHUNK_RECORDS + 1))
    job.upload(
        b"External_Id__c,Name,NumberOfEmployees,AnnualRevenue,IsActive__c,ParentId,Parent.External_Id__c\n", now=NOW
    )
    job.upload(
        b"External_Id__c,Name,NumberOfEmployees,AnnualRevenue,IsActive__c,ParentId,Parent.External_Id__c\n"
        + rows.encode(),
        now=NOW,
    )
    job.set_state("UploadComplete", now=NOW)
    chunks = job.start(now=NOW)
    assert job.state == "InProgress"
    assert [len(c.records) for c in chunks] == [CHUNK_RECORDS, 1]
    assert chunks[0].records[7] == {
        "External_Id__c": "A-7",
        "Name": "Name 7",
        "NumberOfEmployees": 7,
        "AnnualRevenue": 1.5,
        "IsActive__c": True,
        "ParentId": None,
    }


def test_relationship_columns_and_delimiters() -> None:
    job = new_job(columnDelimiter="PIPE", lineEnding="CRLF")
    job.upload(b'External_Id__c|Parent.External_Id__c|Name\r\nA-1|P-1|"x|y"\r\n', now=NOW)
    job.set_state("UploadComplete", now=NOW)
    [chunk] = job.start(now=NOW)
    assert chunk.records == [{"External_Id__c": "A-1", "Parent": {"External_Id__c": "P-1"}, "Name": "x|y"}]
    job.record(chunk, [{"id": "0015g0000000001AAA", "success": True, "created": True, "errors": []}])
    job.finish(now=NOW, elapsed_ms=12)
    assert (
        job.successful_csv()
        == 'sf__Id|sf__Created|External_Id__c|Parent.External_Id__c|Name\r\n0015g0000000001AAA|true|A-1|P-1|"x|y"\r\n'
    )


def test_results_split_successes_and_failures() -> None:
    job = new_job()
    job.upload(b"External_Id__c,Name\nA-1,Acme\nA-2,\n", now=NOW)
    job.set_state("UploadComplete", now=NOW)
    [chunk] = job.start(now=NOW)
    missing = {
        "statusCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [Name]",
        "fields": ["Name"],
    }
    job.record(
        chunk,
        [{"id": "0015g0000000001AAA", "success": True, "created": False}, {"success": False, "errors": [missing]}],
    )
    job.finish(now=NOW, elapsed_ms=5)
    info = job.info()
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 2, 1)
    assert job.successful_csv() == "sf__Id,sf__Created,External_Id__c,Name\n0015g0000000001AAA,false,A-1,Acme\n"
    assert job.failed_csv() == (
        "sf__Id,sf__Error,External_Id__c,Name\n"
        ",REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --,A-2,\n"
    )
    assert job.unprocessed_csv() == "External_Id__c,Name\n"


def test_unknown_column_fails_the_job_and_leaves_rows_unprocessed() -> None:
    job = new_job()
    job.upload(b"External_Id__c,Bogus\nA-1,x\n", now=NOW)
    job.set_state("UploadComplete", now=NOW)
    assert job.start(now=NOW) == []
    assert job.state == "Failed"
    assert job.info()["errorMessage"] == "InvalidBatch : Field name not found : Bogus"
    assert job.unprocessed_csv() == "External_Id__c,Bogus\nA-1,x\n"


@pytest.mark.parametrize(("line_ending", "data"), [("LF", b"Name\r\nx\r\n"), ("CRLF", b"Name\nx\n")])
def test_line_endings_must_match_the_job(line_ending: str, data: bytes) -> None:
    job = new_job(operation="insert", lineEnding=line_ending)
    job.upload(data, now=NOW)
    job.set_state("UploadComplete", now=NOW)
    assert job.start(now=NOW) == []
    assert job.info()["errorMessage"] == (
        f"ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is {line_ending}"
    )


def test_missing_key_column_fails_the_job() -> None:
    job = new_job()
    job.upload(b"Name\nx\n", now=NOW)
    job.set_state("UploadComplete", now=NOW)
    job.start(now=NOW)
    assert job.info()["errorMessage"] == "InvalidBatch : Field name not found : External_Id__c"


def test_aborting_an_open_job_leaves_its_rows_unprocessed() -> None:
    job = new_job()
    job.upload(b"External_Id__c,Name\nA-1,Acme\n", now=NOW)
    job.set_state("Aborted", now=NOW)
    assert job.unprocessed_csv() == "External_Id__c,Name\nA-1,Acme\n"
    job.deletable()


@pytest.mark.parametrize(
    ("steps", "state", "status"),
    [
        (["UploadComplete"], "UploadComplete", 400),
        (["UploadComplete"], "Open", 400),
        (["UploadComplete"], "JobComplete", 400),
        (["Aborted"], "UploadComplete", 400),
        (["Aborted"], "Aborted", 400),
        ([], "InProgress", 400),
        ([], "Bogus", 400),
    ],
)
def test_invalid_state_transitions(steps: list[str], state: str, status: int) -> None:
    job = new_job()
    for step in steps:
        job.set_state(step, now=NOW)
    with pytest.raises(BulkError) as caught:
        job.set_state(state, now=NOW)
    assert (caught.value.error_code, caught.value.status) == ("INVALIDJOBSTATE", status)


def test_upload_only_while_open_and_delete_only_when_closed() -> None:
    job = new_job()
    with pytest.raises(BulkError) as open_delete:
        job.deletable()
    assert open_delete.value.error_code == "INVALIDJOBSTATE"
    job.set_state("UploadComplete", now=NOW)
    with pytest.raises(BulkError) as late_upload:
        job.upload(b"External_Id__c\nA\n", now=NOW)
    assert (late_upload.value.error_code, late_upload.value.status) == ("INVALIDJOBSTATE", 409)


def test_formats() -> None:
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)) == "2026-01-02T03:04:05.006+0000"
    assert sf_error("X", "bad", ()) == "X:bad:--"
    assert sf_error("X", "bad", ("A", "B")) == "X:bad:A,B --"


# --- the HTTP lifecycle against a real Org ---------------------------------------------------------------------

BASE = "/services/data/v60.0/jobs/ingest"


@pytest.fixture
def org() -> Org:
    return Org()


@pytest.fixture
async def ingest(org: Org) -> AsyncIterator[BulkIngest]:
    async def guard(request: Request, kind: str) -> Response | None:
        if request.headers.get("authorization") != "Bearer token":
            return error_response("INVALID_SESSION_ID", "Session expired or invalid", 401)
        org.count_call(kind)
        return None

    async with BulkIngest(org, guard) as running:
        yield running


@pytest.fixture
async def client(ingest: BulkIngest) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=ingest.routes())
    headers = {"Authorization": "Bearer token", "Sforce-Call-Options": "client=bulk-test"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://emulator", headers=headers
    ) as http:
        yield http


async def run_job(client: httpx.AsyncClient, ingest: BulkIngest, body: dict[str, Any], data: str) -> dict[str, Any]:
    created = await client.post(BASE, json=body)
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["state"] == "Open"
    upload = await client.put(f"/{job['contentUrl']}", content=data, headers={"Content-Type": "text/csv"})
    assert (upload.status_code, upload.content) == (201, b"")
    closed = await client.patch(f"{BASE}/{job['id']}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    await ingest.idle()
    info: dict[str, Any] = (await client.get(f"{BASE}/{job['id']}")).json()
    return info


async def test_upsert_job_lifecycle_and_results(client: httpx.AsyncClient, ingest: BulkIngest, org: Org) -> None:
    used = org.api_usage.used()
    rows = "".join(f"A-{n},Account {n},{n * 10}\n" for n in range(450))
    data = "External_Id__c,Name,NumberOfEmployees\n" + rows + "A-bad,,5\nA-type,Typed,lots\n"
    body = {"object": "Account", "operation": "upsert", "externalIdFieldName": "External_Id__c", "contentType": "CSV"}
    info = await run_job(client, ingest, body, data)
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 452, 2)
    assert org.count("Account") == 450
    stored = org.by_external_id("Account", "External_Id__c", "A-7")
    assert stored is not None
    assert stored["NumberOfEmployees"] == 70
    successful = (await client.get(f"{BASE}/{info['id']}/successfulResults/")).text
    lines = successful.splitlines()
    assert lines[0] == "sf__Id,sf__Created,External_Id__c,Name,NumberOfEmployees"
    assert len(lines) == 451
    assert lines[1].startswith(stored["Id"][:3])
    assert ",true,A-0,Account 0,0" in lines[1]
    failed = (await client.get(f"{BASE}/{info['id']}/failedResults/")).text.splitlines()
    assert failed[0] == "sf__Id,sf__Error,External_Id__c,Name,NumberOfEmployees"
    assert failed[1].startswith(",REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --,A-bad")
    assert "A-type" in failed[2]
    unprocessed = await client.get(f"{BASE}/{info['id']}/unprocessedrecords/")
    assert unprocessed.text == "External_Id__c,Name,NumberOfEmployees\n"
    assert unprocessed.headers["content-type"].startswith("text/csv")
    # create, upload, close, info, three results GETs: one call each; the 452 records cost nothing
    assert org.api_usage.used() == used + 7
    again = await run_job(client, ingest, body, "External_Id__c,Name\nA-1,Renamed\nA-2,#N/A\n")
    assert (again["numberRecordsProcessed"], again["numberRecordsFailed"]) == (2, 1)
    renamed = org.by_external_id("Account", "External_Id__c", "A-1")
    assert renamed is not None
    assert renamed["Name"] == "Renamed"
    created_flags = (await client.get(f"{BASE}/{again['id']}/successfulResults")).text.splitlines()[1]
    assert ",false,A-1,Renamed" in created_flags


async def test_insert_update_delete_jobs(client: httpx.AsyncClient, ingest: BulkIngest, org: Org) -> None:
    inserted = await run_job(client, ingest, {"object": "account", "operation": "insert"}, "Name\nOne\nTwo\n")
    assert (inserted["object"], inserted["numberRecordsFailed"]) == ("Account", 0)
    ids = [
        line.split(",")[0]
        for line in (await client.get(f"{BASE}/{inserted['id']}/successfulResults")).text.splitlines()[1:]
    ]
    assert len(ids) == 2
    created = (await client.get(f"{BASE}/{inserted['id']}/successfulResults")).text.splitlines()[1:]
    assert [line.split(",", 1)[1] for line in created] == ["true,One", "true,Two"]
    update = f"Id,Name\n{ids[0]},Uno\n"
    updated = await run_job(client, ingest, {"object": "Account", "operation": "update"}, update)
    assert updated["numberRecordsFailed"] == 0
    assert org.get("Account", ids[0])["Name"] == "Uno"  # type: ignore[index]
    deleted = await run_job(client, ingest, {"object": "Account", "operation": "delete"}, f"Id\n{ids[1]}\n")
    assert deleted["numberRecordsFailed"] == 0
    assert org.count("Account") == 1


async def test_a_job_with_an_unknown_column_fails(client: httpx.AsyncClient, ingest: BulkIngest) -> None:
    body = {"object": "Account", "operation": "insert"}
    info = await run_job(client, ingest, body, "Name,Bogus__c\nA,b\n")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Bogus__c"


async def test_errors_and_state_rules_over_http(client: httpx.AsyncClient, ingest: BulkIngest) -> None:
    unknown = await client.post(BASE, json={"object": "Nope__c", "operation": "insert"})
    assert (unknown.status_code, unknown.json()[0]["errorCode"]) == (400, "INVALIDJOB")
    broken = await client.post(BASE, content=b"{", headers={"Content-Type": "application/json"})
    assert broken.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    missing = await client.get(f"{BASE}/7505g0000000099AAA")
    assert (missing.status_code, missing.json()[0]["errorCode"]) == (404, "NOT_FOUND")
    job = (await client.post(BASE, json={"object": "Account", "operation": "insert"})).json()
    assert (await client.delete(f"{BASE}/{job['id']}")).status_code == 400
    bad_state = await client.patch(f"{BASE}/{job['id']}", json={"state": "JobComplete"})
    assert (bad_state.status_code, bad_state.json()[0]["errorCode"]) == (400, "INVALIDJOBSTATE")
    aborted = await client.patch(f"{BASE}/{job['id']}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    late = await client.put(f"{BASE}/{job['id']}/batches", content="Name\nx\n")
    assert (late.status_code, late.json()[0]["errorCode"]) == (409, "INVALIDJOBSTATE")
    listed = (await client.get(BASE)).json()
    assert listed["done"] is True
    assert [j["id"] for j in listed["records"]] == [job["id"]]
    assert (await client.delete(f"{BASE}/{job['id']}")).status_code == 204
    assert (await client.get(f"{BASE}/{job['id']}")).status_code == 404
    refused = await client.get(BASE, headers={"Authorization": "Bearer stale"})
    assert (refused.status_code, refused.json()[0]["errorCode"]) == (401, "INVALID_SESSION_ID")


async def test_abort_while_in_progress_leaves_the_rest_unprocessed(org: Org) -> None:
    org.latency.speed = 1.0
    org.latency.request_ms = 0.0
    org.latency.per_record_ms = 5.0  # one 200-record chunk takes 1 s of simulated time

    async def guard(request: Request, kind: str) -> Response | None:
        return None

    async with BulkIngest(org, guard) as ingest:
        app = Starlette(routes=ingest.routes())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as client:
            job = (await client.post(BASE, json={"object": "Account", "operation": "insert"})).json()
            rows = "".join(f"Name {n}\n" for n in range(500))
            await client.put(f"{BASE}/{job['id']}/batches", content="Name\n" + rows)
            await client.patch(f"{BASE}/{job['id']}", json={"state": "UploadComplete"})
            for _ in range(100):
                info = (await client.get(f"{BASE}/{job['id']}")).json()
                if info["numberRecordsProcessed"]:
                    break
                await asyncio.sleep(0.01)
            assert info["state"] == "InProgress"
            await client.patch(f"{BASE}/{job['id']}", json={"state": "Aborted"})
            await ingest.idle()
            info = (await client.get(f"{BASE}/{job['id']}")).json()
            unprocessed = (await client.get(f"{BASE}/{job['id']}/unprocessedRecords")).text.splitlines()
    assert (info["state"], info["numberRecordsProcessed"]) == ("Aborted", 200)
    assert len(unprocessed) == 1 + 300
    assert org.count("Account") == 200


# --- simple-salesforce over a real socket --------------------------------------------------------------------


def simple_salesforce_client(server: EmulatorServer, org: Org) -> Salesforce:
    """simple-salesforce on the server's HTTPS URL, trusting its self-signed certificate."""
    token = org.sessions.issue(org.user(None), org.profile.connected_apps[0]).token
    session = requests.Session()
    session.trust_env = False  # a REQUESTS_CA_BUNDLE in the environment would override `verify`
    session.verify = str(server.certfile)
    # No keep-alive: a pooled connection left open would hold up the server's shutdown until it times out.
    session.headers["Connection"] = "close"
    return Salesforce(instance_url=server.url, session_id=token, version="60.0", session=session)


async def test_simple_salesforce_bulk2_upsert(org: Org) -> None:
    async with EmulatorServer(org, tls=True) as server:
        sf = simple_salesforce_client(server, org)

        def load() -> tuple[list[dict[str, int]], str]:
            records = [{"External_Id__c": f"S-{n}", "Name": f"Simple {n}"} for n in range(450)]
            records.append({"External_Id__c": "S-bad", "Name": ""})
            results = sf.bulk2.Account.upsert(records=records, external_id_field="External_Id__c", wait=0.05)
            failed = sf.bulk2.Account.get_failed_records(results[0]["job_id"])
            return results, failed

        results, failed = await asyncio.to_thread(load)
    [result] = results
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (451, 1)
    assert org.count("Account") == 450
    assert "REQUIRED_FIELD_MISSING" in failed
    assert "S-bad" in failed


async def test_through_the_app_the_gate_counts_each_request_and_the_creator_is_the_session_user() -> None:
    org = Org()
    alice = org.user("alice@emulator.example")
    human_app = next(app for app in org.profile.connected_apps if app.run_as == alice.username)
    token = org.sessions.issue(alice, human_app).token
    app = create_app(org)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="https://emulator.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as client,
    ):
        used = org.api_usage.used()
        job = (await client.post(BASE, json={"object": "Account", "operation": "insert"})).json()
        assert job["createdById"] == alice.id
        await client.put(f"{BASE}/{job['id']}/batches", content="Name\nHuman Co\n")
        closed = await client.patch(f"{BASE}/{job['id']}", json={"state": "UploadComplete"})
        assert closed.headers["Sforce-Limit-Info"] == f"api-usage={used + 3}/{org.api_usage.limit}"
        polls = 0
        while True:
            polls += 1
            info = (await client.get(f"{BASE}/{job['id']}")).json()
            if info["state"] == "JobComplete" or polls == 100:
                break
            await asyncio.sleep(0.01)
        assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", 1)
        [account] = list(org.rows("Account"))
        assert account["CreatedById"] == alice.id
        assert org.api_usage.used() == used + 3 + polls  # create, upload, close, each poll; not the records


class BrokenOrg(Org):
    """An org whose write path breaks on the second chunk, as a bug in it would."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.chunks = 0

    def insert_many(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        self.chunks += 1
        if self.chunks == 2:
            raise self.error
        return super().insert_many(*args, **kwargs)


@pytest.mark.parametrize(("error", "unprocessed"), [(KeyError("Account"), 100), (RuntimeError("write path bug"), 0)])
async def test_a_broken_write_path_fails_the_job(error: Exception, unprocessed: int) -> None:
    org = BrokenOrg(error)
    async with BulkIngest(org) as ingest:
        app = Starlette(routes=ingest.routes())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as client:
            job = (await client.post(BASE, json={"object": "Account", "operation": "insert"})).json()
            rows = "".join(f"Name {n}\n" for n in range(300))
            await client.put(f"{BASE}/{job['id']}/batches", content="Name\n" + rows)
            await client.patch(f"{BASE}/{job['id']}", json={"state": "UploadComplete"})
            await ingest.idle()
            info = (await client.get(f"{BASE}/{job['id']}")).json()
            left = (await client.get(f"{BASE}/{job['id']}/unprocessedrecords")).text.splitlines()
    assert (info["state"], info["numberRecordsProcessed"]) == ("Failed", 200)
    assert info["errorMessage"].startswith("InternalServerError : ")
    assert left == ["Name", *(f"Name {n}" for n in range(200, 300))]


async def test_lock_failures_are_retried_inside_the_job(
    org: Org, client: httpx.AsyncClient, ingest: BulkIngest
) -> None:
    org.faults.lock_error_rate = 0.3
    rows = "".join(f"Name {n}\n" for n in range(200))
    info = await run_job(client, ingest, {"object": "Account", "operation": "insert"}, "Name\n" + rows)
    assert info["retries"] >= 1
    # 0.3 ** 4 of 200 records: about one may still fail after three retries
    assert info["numberRecordsFailed"] <= 5
    assert org.count("Account") == 200 - info["numberRecordsFailed"]


# --- Bulk API 2.0 query jobs -----------------------------------------------------------------------------------

QUERY_JOBS = "/services/data/v60.0/jobs/query"


async def test_query_job_pages_csv_by_locator(client: httpx.AsyncClient, ingest: BulkIngest, org: Org) -> None:
    [parent] = org.upsert_many("Account", "External_Id__c", [{"External_Id__c": "P-1", "Name": "Parent, Inc."}])
    children = [
        {
            "External_Id__c": f"C-{n}",
            "Name": f"Child {n}",
            "AccountId": parent["id"],
            "StageName": "Prospecting",
            "CloseDate": "2026-12-01",
            "Amount": n,
        }
        for n in range(5)
    ]
    org.upsert_many("Opportunity", "External_Id__c", children)
    q = "SELECT External_Id__c, Name, Account.Name, Amount FROM Opportunity WHERE External_Id__c LIKE 'C-%'"
    created = await client.post(QUERY_JOBS, json={"operation": "query", "query": q})
    job = created.json()
    assert (job["state"], job["jobType"], job["object"]) == ("UploadComplete", "V2Query", "Opportunity")
    await ingest.idle()
    info = (await client.get(f"{QUERY_JOBS}/{job['id']}")).json()
    assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", 5)
    first = await client.get(f"{QUERY_JOBS}/{job['id']}/results", params={"maxRecords": 3})
    assert (first.headers["Sforce-Locator"], first.headers["Sforce-NumberOfRecords"]) == ("3", "3")
    lines = first.text.splitlines()
    assert lines[0] == "External_Id__c,Name,Account.Name,Amount"
    assert lines[1] == 'C-0,Child 0,"Parent, Inc.",0.0'
    rest = await client.get(f"{QUERY_JOBS}/{job['id']}/results", params={"maxRecords": 3, "locator": "3"})
    assert (rest.headers["Sforce-Locator"], len(rest.text.splitlines())) == ("null", 3)
    assert (await client.delete(f"{QUERY_JOBS}/{job['id']}")).status_code == 204


async def test_query_job_errors(client: httpx.AsyncClient) -> None:
    bad = await client.post(QUERY_JOBS, json={"operation": "query", "query": "SELECT Nope FROM Account"})
    assert (bad.status_code, bad.json()[0]["errorCode"]) == (400, "INVALID_FIELD")
    wrong = await client.post(QUERY_JOBS, json={"operation": "insert", "query": "SELECT Id FROM Account"})
    assert wrong.json()[0]["errorCode"] == "INVALIDJOB"
    missing = await client.get(f"{QUERY_JOBS}/7505g0000000099AAA/results")
    assert missing.status_code == 404
    job = (await client.post(QUERY_JOBS, json={"operation": "queryAll", "query": "SELECT Id FROM Account"})).json()
    early = await client.get(f"{QUERY_JOBS}/{job['id']}/results")
    assert (early.status_code, early.json()[0]["errorCode"]) == (400, "INVALIDJOBSTATE")
    aborted = await client.patch(f"{QUERY_JOBS}/{job['id']}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"


async def test_simple_salesforce_bulk2_query(org: Org) -> None:
    org.insert_many("Account", [{"Name": f"Extract {n}"} for n in range(30)])
    async with EmulatorServer(org, tls=True) as server:
        sf = simple_salesforce_client(server, org)

        def extract() -> list[str]:
            pages = sf.bulk2.Account.query("SELECT Id, Name FROM Account ORDER BY Name", max_records=20, wait=0.05)
            return list(pages)

        pages = await asyncio.to_thread(extract)
    assert len(pages) == 2
    names = [line.split(",")[1].strip('"') for page in pages for line in page.splitlines()[1:]]
    assert names == sorted(f"Extract {n}" for n in range(30))
