"""Bulk API 2.0 ingest: the pure job state machine and CSV handling, then the HTTP lifecycle through the app."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.emulator.bulk import CHUNK_RECORDS, BulkError, IngestJob, format_time, sf_error

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
