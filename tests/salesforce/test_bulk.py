"""Bulk API 2.0 ingest upsert: CSV, the job's life cycle, polling backoff, result collection, aborts."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import httpx
import pytest

from bridge.metrics import Metrics
from bridge.salesforce import BulkJobTimeout, ServerUnavailable
from bridge.salesforce.bulk import to_csv
from tests.salesforce.conftest import BASE, ClientFactory, FakeSalesforce, calls, sf_error

JOB_ID = "7505g00000ABCDEAA4"
JOB = rf"{BASE}/jobs/ingest/{JOB_ID}"


class BulkOrg:
    """Scripted job: keeps the uploaded CSV, reports states in order, fails rows whose Name is `bad`."""

    def __init__(
        self,
        fake: FakeSalesforce,
        states: list[str],
        error_message: str | None = None,
        unprocessed_from: int | None = None,
    ) -> None:
        self.uploaded = ""
        self.error_message = error_message
        self.unprocessed_from = unprocessed_from
        self.state_changes: list[str] = []
        fake.on("POST", rf"{BASE}/jobs/ingest", self.create)
        fake.on("PUT", rf"{JOB}/batches", self.upload)
        fake.on("PATCH", JOB, self.patch)
        fake.on("GET", JOB, *[lambda _, s=s: httpx.Response(200, json=self.info(s)) for s in states])
        fake.on("GET", rf"{JOB}/successfulResults/", self.successful)
        fake.on("GET", rf"{JOB}/failedResults/", self.failed)
        fake.on("GET", rf"{JOB}/unprocessedrecords/", self.unprocessed)

    def info(self, state: str) -> dict[str, object]:
        info = {"id": JOB_ID, "operation": "upsert", "object": "Account", "state": state, "contentType": "CSV"}
        return info | ({"errorMessage": self.error_message} if self.error_message else {})

    def create(self, request: httpx.Request) -> httpx.Response:
        self.spec = json.loads(request.content)
        return httpx.Response(200, json=self.info("Open"))

    def upload(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Content-Type"] == "text/csv"
        self.uploaded = request.content.decode()
        return httpx.Response(201)

    def patch(self, request: httpx.Request) -> httpx.Response:
        state = json.loads(request.content)["state"]
        self.state_changes.append(state)
        return httpx.Response(200, json=self.info(state))

    def rows(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.uploaded)))

    def _csv(self, prefix: list[str], rows: list[dict[str, str]]) -> httpx.Response:
        columns = prefix + (list(self.rows()[0]) if self.rows() else [])
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return httpx.Response(200, text=out.getvalue(), headers={"Content-Type": "text/csv"})

    def done(self) -> list[dict[str, str]]:
        return self.rows()[: self.unprocessed_from]

    def successful(self, request: httpx.Request) -> httpx.Response:
        ok = [r for r in self.done() if r["Name"] != "bad"]
        ok.reverse()  # result order is not guaranteed
        rows = [
            {"sf__Id": f"001{i:015d}", "sf__Created": "true" if i % 2 == 0 else "false", **r} for i, r in enumerate(ok)
        ]
        return self._csv(["sf__Id", "sf__Created"], rows)

    def failed(self, request: httpx.Request) -> httpx.Response:
        rows = [
            {"sf__Id": "", "sf__Error": "FIELD_CUSTOM_VALIDATION_EXCEPTION:Name is bad:Name --", **r}
            for r in self.done()
            if r["Name"] == "bad"
        ]
        return self._csv(["sf__Id", "sf__Error"], rows)

    def unprocessed(self, request: httpx.Request) -> httpx.Response:
        return self._csv([], self.rows()[self.unprocessed_from :] if self.unprocessed_from is not None else [])


RECORDS = [
    {"Ext_Id__c": "A-1", "Name": "Acme, Inc.", "Phone": None},
    {"Ext_Id__c": "A/2?", "Name": "bad", "Phone": "555"},
    {"Ext_Id__c": "A-3", "Name": 'Quote "Q"\nline', "Active__c": True},
    {"Ext_Id__c": "A-4", "Name": "ünï", "Parent": {"Ext_Id__c": "A-1"}},
]


def test_csv_nulls_booleans_relationships_and_quoting() -> None:
    columns, data = to_csv(RECORDS)
    assert columns == ["Ext_Id__c", "Name", "Phone", "Active__c", "Parent.Ext_Id__c"]
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert rows[0]["Phone"] == "#N/A"
    assert rows[0]["Name"] == "Acme, Inc."
    assert rows[2]["Name"] == 'Quote "Q"\nline'
    assert rows[2]["Active__c"] == "true"
    assert rows[3]["Parent.Ext_Id__c"] == "A-1"
    assert rows[1]["Active__c"] == ""  # absent: left unchanged, unlike #N/A


class Sleeps(list[float]):
    async def __call__(self, delay_s: float) -> None:
        self.append(delay_s)


async def test_job_life_cycle_and_results(make_client: ClientFactory, fake: FakeSalesforce, metrics: Metrics) -> None:
    org = BulkOrg(fake, ["UploadComplete", "InProgress", "InProgress", "InProgress", "JobComplete"])
    sleeps = Sleeps()
    async with make_client() as sf:
        result = await sf.bulk_upsert(
            "Account", "Ext_Id__c", RECORDS, poll_interval_s=0.5, max_poll_interval_s=3.0, sleep=sleeps
        )
    assert org.spec == {
        "object": "Account",
        "operation": "upsert",
        "externalIdFieldName": "Ext_Id__c",
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    assert org.state_changes == ["UploadComplete"]
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert result.job_id == JOB_ID
    assert result.state == "JobComplete"
    by_ext = {record["Ext_Id__c"]: (sf_id, created) for record, sf_id, created in result.successful}
    assert set(by_ext) == {"A-1", "A-3", "A-4"}
    assert all(sf_id.startswith("001") for sf_id, _ in by_ext.values())
    assert next(r for r, _, _ in result.successful if r["Ext_Id__c"] == "A-3") is RECORDS[2]
    assert result.failed == [(RECORDS[1], "FIELD_CUSTOM_VALIDATION_EXCEPTION:Name is bad:Name --")]
    assert result.unprocessed == []
    # create, upload, close, 5 polls, 2 result sets: every call counted, no unprocessed fetch for a complete job
    assert len(fake.api_requests()) == 10
    assert calls(metrics, "bulk", "ok") == 10


async def test_failed_job_reports_unprocessed_records(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    org = BulkOrg(fake, ["Failed"], error_message="InvalidBatch : too many locks", unprocessed_from=2)
    async with make_client() as sf:
        result = await sf.bulk_upsert("Account", "Ext_Id__c", RECORDS, sleep=Sleeps())
    assert org.uploaded
    assert result.state == "Failed"
    assert result.error_message == "InvalidBatch : too many locks"
    assert [r["Ext_Id__c"] for r, _, _ in result.successful] == ["A-1"]
    assert [r["Ext_Id__c"] for r, _ in result.failed] == ["A/2?"]
    assert result.unprocessed == [RECORDS[2], RECORDS[3]]


async def test_timeout_aborts_the_job(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    org = BulkOrg(fake, ["InProgress"])
    sleeps = Sleeps()
    async with make_client() as sf:
        with pytest.raises(BulkJobTimeout) as raised:
            await sf.bulk_upsert("Account", "Ext_Id__c", RECORDS, poll_interval_s=1, max_wait_s=10, sleep=sleeps)
    assert raised.value.retryable
    assert sum(sleeps) <= 10
    assert sleeps == [1, 2, 4]
    assert org.state_changes == ["UploadComplete", "Aborted"]


async def test_cancellation_aborts_the_job(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    org = BulkOrg(fake, ["InProgress"])
    polling = asyncio.Event()

    async def park(delay_s: float) -> None:
        polling.set()
        await asyncio.Event().wait()

    async with make_client() as sf:
        task = asyncio.create_task(sf.bulk_upsert("Account", "Ext_Id__c", RECORDS, sleep=park))
        await polling.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert org.state_changes == ["UploadComplete", "Aborted"]


async def test_upload_error_aborts_and_raises(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    org = BulkOrg(fake, ["JobComplete"])
    fake.routes[1] = ("PUT", fake.routes[1][1], [sf_error(503, "SERVER_UNAVAILABLE", "Server Unavailable")])
    async with make_client() as sf:
        with pytest.raises(ServerUnavailable):
            await sf.bulk_upsert("Account", "Ext_Id__c", RECORDS, sleep=Sleeps())
    assert org.state_changes == ["Aborted"]


async def test_no_records_no_calls(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    async with make_client() as sf:
        result = await sf.bulk_upsert("Account", "Ext_Id__c", [], sleep=Sleeps())
    assert (result.successful, result.failed, result.unprocessed) == ([], [], [])
    assert fake.requests == []


async def test_a_failed_abort_does_not_hide_the_original_error(
    make_client: ClientFactory, fake: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    org = BulkOrg(fake, ["InProgress"])

    def refuse_abort(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["state"] == "Aborted":
            return sf_error(400, "INVALIDJOBSTATE", "Job is already complete")
        return org.patch(request)

    fake.routes[2] = ("PATCH", fake.routes[2][1], [refuse_abort])
    async with make_client() as sf:
        with pytest.raises(BulkJobTimeout):
            await sf.bulk_upsert("Account", "Ext_Id__c", RECORDS, max_wait_s=0.5, sleep=Sleeps())
    assert "INVALIDJOBSTATE" in caplog.text


async def test_result_rows_salesforce_reformatted_are_still_reported(
    make_client: ClientFactory, fake: FakeSalesforce
) -> None:
    org = BulkOrg(fake, ["JobComplete"])
    original = org.successful

    def reformatted(request: httpx.Request) -> httpx.Response:
        text = original(request).text.replace("1500.0", "1500")
        return httpx.Response(200, text=text)

    fake.routes[4] = ("GET", fake.routes[4][1], [reformatted])
    records = [{"Ext_Id__c": "N-1", "Name": "n", "AnnualRevenue": 1500.0}]
    async with make_client() as sf:
        result = await sf.bulk_upsert("Account", "Ext_Id__c", records, sleep=Sleeps())
    [(record, sf_id, _)] = result.successful
    assert record is records[0]  # matched by its external ID when the other values do not match literally
    assert sf_id
    assert result.unprocessed == []
