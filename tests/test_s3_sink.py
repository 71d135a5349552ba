"""The S3 sink against a real S3/STS/IAM endpoint (moto server, IAM authentication on).

The writer user may only assume the provider role; the role may only ``s3:PutObject`` (and
``s3:AbortMultipartUpload``) under the two sources' prefixes. Anything else the sink tried
(ListBucket, HeadObject, GetObject, …) would be refused by the server and fail these tests.
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from s3_server import ACCOUNT_ID, REGION, allow

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.errors import ConfigError, SinkError
from wazuh_ocsf.flush.arrow_schema import schema_for
from wazuh_ocsf.flush.convert import convert_block
from wazuh_ocsf.mapping import load_alert, map_alert
from wazuh_ocsf.sinks import s3 as s3_module
from wazuh_ocsf.sinks.base import ParquetObject
from wazuh_ocsf.sinks.s3 import S3Sink
from wazuh_ocsf.spool.line import encode_event

BUCKET = "aws-security-data-lake-us-east-1-o2x8a4"
EXTERNAL_ID = "wazuh-ext-4f1c9a"
ALERTS = sorted((Path(__file__).parent / "data" / "alerts").glob("*.json"))
PREFIXES = ("ext/wazuh/", "ext/wazuh_detect/")


class Wire:
    """A botocore ``before-send`` handler: records every request the real clients send."""

    def __init__(self) -> None:
        self.requests = []

    def __call__(self, request, **kwargs) -> None:
        self.requests.append(request)

    def assume_role_calls(self) -> list:
        calls = []
        for request in self.requests:
            body = request.body
            if not isinstance(body, (bytes, str)):
                continue  # a file being uploaded
            body = body.decode() if isinstance(body, bytes) else body
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if form.get("Action") == "AssumeRole":
                calls.append(form)
        return calls

    def s3_requests(self) -> list:
        return [r for r in self.requests if urlsplit(r.url).path.startswith(f"/{BUCKET}")]


def watch(sink: S3Sink) -> Wire:
    """Record the requests of the sink's own clients (STS when a role is set, and S3)."""
    wire = Wire()
    if sink.sts_client is not None:
        sink.sts_client.meta.events.register("before-send", wire)
    sink.s3_client.meta.events.register("before-send", wire)
    return wire


def signing_key(request) -> str:
    """The access key id in a SigV4 Authorization header."""
    return re.search(r"Credential=([^/]+)/", request.headers["Authorization"].decode()).group(1)


def table_of(class_uid: int, alerts=ALERTS):
    """Corpus alerts through the real mapper, spool line codec and converter."""
    events = [map_alert(load_alert(path.read_bytes()), class_uid=class_uid) for path in alerts]
    converted = convert_block(b"".join(encode_event(event) for event in events))
    assert converted.bad == []
    return converted.tables[class_uid]


def parquet_object(directory: Path, class_uid: int, event_day: str, table=None) -> ParquetObject:
    """Write a table as a Parquet file and describe it as the flusher would."""
    table = table_of(class_uid) if table is None else table
    name = f"node-1_00000001_{class_uid}_{event_day}_0000.zstd.parquet"
    path = directory / name
    pq.write_table(table, path, compression="zstd")
    return ParquetObject(name, class_uid, event_day, path, table.num_rows, path.stat().st_size)


def blob_object(directory: Path, size: int) -> ParquetObject:
    """A file of random bytes (the sink does not look inside objects)."""
    name = f"node-1_00000002_2001_20240422_{size}.zstd.parquet"
    path = directory / name
    path.write_bytes(os.urandom(size))
    return ParquetObject(name, 2001, "20240422", path, 0, size)


@pytest.fixture
def writer(lake):
    """The lake bucket, a provider role limited to PutObject on its prefixes, a writer that may assume it."""
    yield lake.create_lake(BUCKET, prefixes=PREFIXES, external_id=EXTERNAL_ID)
    lake.delete_bucket(BUCKET)
    lake.delete_identities()


def settings_for(tmp_path: Path, lake, role_arn: str | None, **extra: str):
    env = {
        "AWS_BUCKET": BUCKET,
        "REGION": REGION,
        "ACCOUNT_ID": ACCOUNT_ID,
        "WAZUH_OCSF_SECURITY_FINDING_SOURCE": "wazuh",
        "WAZUH_OCSF_DETECTION_FINDING_SOURCE": "wazuh_detect",
        "WAZUH_OCSF_S3_ENDPOINT_URL": lake.url,
        "WAZUH_OCSF_STS_ENDPOINT_URL": lake.url,
        "WAZUH_OCSF_NODE_NAME": "node-1",
        "EXTERNAL_ID": EXTERNAL_ID,
    }
    if role_arn:
        env["ROLE_ARN"] = role_arn
    env.update(extra)
    return load_settings(wazuh_home=str(tmp_path), environ=env)


@pytest.fixture
def quick_failures(monkeypatch):
    """One botocore attempt per request, so failure tests do not sit in backoff sleeps."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


def test_both_classes_land_under_their_sources_through_the_assumed_role(lake, writer, tmp_path):
    session, role_arn = writer
    sink = S3Sink(settings_for(tmp_path, lake, role_arn), session=session)
    wire = watch(sink)
    objects = [parquet_object(tmp_path, 2001, "20240422"), parquet_object(tmp_path, 2004, "20240423")]

    sink.deliver(objects)

    assert lake.keys(BUCKET) == [
        f"ext/wazuh/region=us-east-1/accountId=123456789012/eventDay=20240422/{objects[0].name}",
        f"ext/wazuh_detect/region=us-east-1/accountId=123456789012/eventDay=20240423/{objects[1].name}",
    ]
    for obj, key in zip(objects, lake.keys(BUCKET)):
        stored = lake.get(BUCKET, key)
        table = pq.read_table(io.BytesIO(stored["Body"]))
        assert table.schema == schema_for(obj.class_uid)
        assert table.equals(pq.read_table(obj.path))
        assert table.num_rows == len(ALERTS)
        assert "ServerSideEncryption" not in stored or stored["ServerSideEncryption"] == "AES256"  # moto's default
        assert stored["ChecksumSHA256"]

    # one AssumeRole, carrying the external id, by the writer
    assert len(wire.assume_role_calls()) == 1
    call = wire.assume_role_calls()[0]
    assert call["RoleArn"] == role_arn
    assert call["ExternalId"] == EXTERNAL_ID
    assert call["RoleSessionName"] == "wazuh-ocsf-node-1"
    assert signing_key(wire.requests[0]) == session.get_credentials().access_key

    # every S3 request is a PUT signed with the assumed-role keys, with a checksum and no SSE header
    assumed = sink.credentials.get_frozen_credentials()
    assert assumed.access_key != session.get_credentials().access_key
    puts = wire.s3_requests()
    assert [r.method for r in puts] == ["PUT", "PUT"]
    for request in puts:
        assert signing_key(request) == assumed.access_key
        assert request.headers["X-Amz-Security-Token"].decode() == assumed.token
        assert request.headers["x-amz-checksum-sha256"]
        assert "x-amz-server-side-encryption" not in request.headers


def test_delivering_again_overwrites_instead_of_duplicating(lake, writer, tmp_path):
    session, role_arn = writer
    sink = S3Sink(settings_for(tmp_path, lake, role_arn), session=session)
    obj = parquet_object(tmp_path, 2001, "20240422")
    sink.deliver([obj])
    sink.deliver([obj])
    assert len(lake.keys(BUCKET)) == 1


def test_external_account_and_exact_provider_location(lake, writer, tmp_path):
    session, role_arn = writer
    settings = settings_for(
        tmp_path,
        lake,
        role_arn,
        ACCOUNT_ID="external_acme",
        WAZUH_OCSF_SECURITY_FINDING_LOCATION=f"s3://{BUCKET}/ext/wazuh/1.0/",
    )
    obj = parquet_object(tmp_path, 2001, "20240422")
    S3Sink(settings, session=session).deliver([obj])
    assert lake.keys(BUCKET) == [f"ext/wazuh/1.0/region=us-east-1/accountId=external_acme/eventDay=20240422/{obj.name}"]


def test_source_names_over_twenty_characters_are_refused(lake, tmp_path):
    with pytest.raises(ConfigError, match=r"WAZUH_OCSF_SECURITY_FINDING_SOURCE: .*20 characters"):
        settings_for(tmp_path, lake, None, WAZUH_OCSF_SECURITY_FINDING_SOURCE="wazuh-manager-alerts-x")


@pytest.mark.parametrize(
    ("sse", "key_id", "header"),
    [("aes256", None, "AES256"), ("aws:kms", "arn:aws:kms:us-east-1:123456789012:key/1234abcd", "aws:kms")],
)
def test_encryption_header_only_when_configured(lake, writer, tmp_path, sse, key_id, header):
    session, role_arn = writer
    extra = {"WAZUH_OCSF_SSE": sse}
    if key_id:
        extra["WAZUH_OCSF_SSE_KMS_KEY_ID"] = key_id
    sink = S3Sink(settings_for(tmp_path, lake, role_arn, **extra), session=session)
    wire = watch(sink)
    sink.deliver([parquet_object(tmp_path, 2001, "20240422")])
    (put,) = wire.s3_requests()
    assert put.headers["x-amz-server-side-encryption"].decode() == header
    if key_id:
        assert put.headers["x-amz-server-side-encryption-aws-kms-key-id"].decode() == key_id
    stored = lake.get(BUCKET, lake.keys(BUCKET)[0])
    assert stored["ServerSideEncryption"] == header


def test_large_object_goes_in_parts_each_with_a_checksum(lake, writer, tmp_path):
    session, role_arn = writer
    sink = S3Sink(settings_for(tmp_path, lake, role_arn, WAZUH_OCSF_S3_MULTIPART_THRESHOLD="5M"), session=session)
    wire = watch(sink)
    obj = blob_object(tmp_path, 11 * 1024 * 1024)

    sink.deliver([obj])

    (key,) = lake.keys(BUCKET)
    assert lake.get(BUCKET, key)["Body"] == obj.path.read_bytes()
    requests = wire.s3_requests()
    queries = sorted(urlsplit(r.url).query.split("&")[0].split("=")[0] for r in requests)
    assert queries == ["uploadId", "uploadId", "uploadId", "uploadId", "uploads"]  # create, 3 parts, complete
    parts = [r for r in requests if "partNumber=" in r.url]
    assert len(parts) == 3
    assert all(r.headers["x-amz-checksum-sha256"] for r in parts)
    assert all(signing_key(r) == sink.credentials.get_frozen_credentials().access_key for r in requests)


def test_credentials_are_refreshed_when_they_near_expiry(lake, writer, tmp_path, monkeypatch):
    # 15-minute credentials sit inside botocore's 15-minute refresh window from the start, so
    # every delivery must assume the role again and sign with the new keys.
    monkeypatch.setattr(s3_module, "ASSUME_ROLE_SECONDS", 900)
    session, role_arn = writer
    sink = S3Sink(settings_for(tmp_path, lake, role_arn), session=session)
    wire = watch(sink)
    issued = []
    sink.sts_client.meta.events.register(
        "after-call.sts.AssumeRole", lambda parsed, **kw: issued.append(parsed["Credentials"]["AccessKeyId"])
    )
    sink.deliver([parquet_object(tmp_path, 2001, "20240422")])
    sink.deliver([parquet_object(tmp_path, 2004, "20240422")])

    first, second = (signing_key(r) for r in wire.s3_requests())
    assert first != second
    assert {first, second} <= set(issued)
    assert len(wire.assume_role_calls()) == len(issued) >= 2
    assert all(call["ExternalId"] == EXTERNAL_ID for call in wire.assume_role_calls())
    assert len(lake.keys(BUCKET)) == 2


def test_default_credential_chain_without_a_role(lake, writer, tmp_path):
    session = lake.create_user("direct-writer", allow("s3:PutObject", f"arn:aws:s3:::{BUCKET}/ext/wazuh/*"))
    sink = S3Sink(settings_for(tmp_path, lake, None), session=session)
    wire = watch(sink)
    assert sink.sts_client is None
    sink.deliver([parquet_object(tmp_path, 2001, "20240422")])
    assert len(lake.keys(BUCKET)) == 1
    assert [signing_key(r) for r in wire.requests] == [session.get_credentials().access_key]


def test_server_down_keeps_failing_clearly_then_delivers_after_recovery(lake, writer, tmp_path, quick_failures, caplog):
    session, role_arn = writer
    sink = S3Sink(settings_for(tmp_path, lake, role_arn, WAZUH_OCSF_S3_RETRIES="1"), session=session, retry_delay=0)
    sink.deliver([parquet_object(tmp_path, 2001, "20240422")])
    obj = parquet_object(tmp_path, 2004, "20240423")
    key = f"ext/wazuh_detect/region=us-east-1/accountId=123456789012/eventDay=20240423/{obj.name}"

    lake.stop()
    try:
        failed = rf"s3://{BUCKET}/{re.escape(key)} \(after 2 attempts\): cannot reach"
        with caplog.at_level(logging.WARNING, logger="wazuh_ocsf.sinks.s3"), pytest.raises(SinkError, match=failed):
            sink.deliver([obj])
    finally:
        lake.start()
    (warning,) = caplog.records
    assert warning.getMessage().startswith(f"Upload to s3://{BUCKET}/{key} failed (attempt 1 of 2): Could not connect")

    sink.deliver([obj])
    assert len(lake.keys(BUCKET)) == 2


def test_server_down_before_the_role_is_assumed(lake, writer, tmp_path, quick_failures):
    session, role_arn = writer
    sink = S3Sink(settings_for(tmp_path, lake, role_arn, WAZUH_OCSF_S3_RETRIES="0"), session=session)
    obj = parquet_object(tmp_path, 2001, "20240422")
    lake.stop()
    try:
        with pytest.raises(SinkError, match=rf"s3://{BUCKET}/ext/wazuh/region=.*: cannot reach .*Could not connect"):
            sink.deliver([obj])
    finally:
        lake.start()
    sink.deliver([obj])
    assert len(lake.keys(BUCKET)) == 1


def test_wrong_credentials(lake, writer, tmp_path, quick_failures):
    session, role_arn = writer
    import boto3

    keys = session.get_credentials()
    wrong = boto3.Session(aws_access_key_id=keys.access_key, aws_secret_access_key="not-the-secret", region_name=REGION)
    obj = parquet_object(tmp_path, 2001, "20240422")
    with pytest.raises(SinkError, match=rf"s3://{BUCKET}/ext/wazuh/.*SignatureDoesNotMatch.*assuming {role_arn}"):
        S3Sink(settings_for(tmp_path, lake, role_arn), session=wrong).deliver([obj])
    unknown = boto3.Session(aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x", region_name=REGION)
    with pytest.raises(SinkError, match=r"InvalidClientTokenId"):
        S3Sink(settings_for(tmp_path, lake, role_arn), session=unknown).deliver([obj])
    assert lake.keys(BUCKET) == []

    S3Sink(settings_for(tmp_path, lake, role_arn), session=session).deliver([obj])
    assert len(lake.keys(BUCKET)) == 1


def test_wrong_external_id_is_refused_by_the_trust_policy(lake, writer, tmp_path):
    session, role_arn = writer
    sink = S3Sink(settings_for(tmp_path, lake, role_arn, EXTERNAL_ID="not-the-external-id"), session=session)
    refused = r"AccessDenied.*Cannot assume .*sts:ExternalId equal to WAZUH_OCSF_EXTERNAL_ID"
    with pytest.raises(SinkError, match=refused):
        sink.deliver([parquet_object(tmp_path, 2001, "20240422")])


def test_missing_bucket_then_recovery(lake, writer, tmp_path, quick_failures):
    session, role_arn = writer
    sink = S3Sink(settings_for(tmp_path, lake, role_arn), session=session)
    obj = parquet_object(tmp_path, 2001, "20240422")
    lake.delete_bucket(BUCKET)
    with pytest.raises(SinkError, match=rf"s3://{BUCKET}/ext/wazuh/.*: NoSuchBucket: .*Check WAZUH_OCSF_BUCKET"):
        sink.deliver([obj])
    lake.create_bucket(BUCKET)
    sink.deliver([obj])
    assert len(lake.keys(BUCKET)) == 1


def test_access_denied_outside_the_granted_prefix_names_the_permission(lake, writer, tmp_path):
    session, role_arn = writer
    settings = settings_for(tmp_path, lake, role_arn, WAZUH_OCSF_SECURITY_FINDING_SOURCE="someone_else")
    obj = parquet_object(tmp_path, 2001, "20240422")
    with pytest.raises(
        SinkError,
        match=rf"s3://{BUCKET}/ext/someone_else/region=.*: AccessDenied: .*needs s3:PutObject on "
        rf"arn:aws:s3:::{BUCKET}/ext/someone_else/\*",
    ):
        S3Sink(settings, session=session).deliver([obj])
    assert lake.keys(BUCKET) == []


def test_multipart_upload_refused_outside_the_prefix_leaves_nothing(lake, writer, tmp_path):
    session, role_arn = writer
    settings = settings_for(
        tmp_path,
        lake,
        role_arn,
        WAZUH_OCSF_SECURITY_FINDING_SOURCE="someone_else",
        WAZUH_OCSF_S3_MULTIPART_THRESHOLD="5M",
    )
    with pytest.raises(SinkError, match=r"AccessDenied.*s3:PutObject on"):
        S3Sink(settings, session=session).deliver([blob_object(tmp_path, 6 * 1024 * 1024)])
    assert lake.keys(BUCKET) == []


def test_a_missing_local_file_is_a_sink_error(lake, writer, tmp_path):
    session, role_arn = writer
    obj = parquet_object(tmp_path, 2001, "20240422")
    obj.path.unlink()
    with pytest.raises(SinkError, match=rf"Failed to upload {re.escape(str(obj.path))} to s3://{BUCKET}/ext/wazuh/"):
        S3Sink(settings_for(tmp_path, lake, role_arn), session=session).deliver([obj])


def test_a_missing_aws_profile_is_a_sink_error(lake, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    sink = S3Sink(settings_for(tmp_path, lake, None))
    with pytest.raises(SinkError, match=rf"Cannot set up the S3 client for s3://{BUCKET}/: .*no-such-profile"):
        sink.deliver([blob_object(tmp_path, 10)])


def test_no_credentials_anywhere(lake, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    sink = S3Sink(settings_for(tmp_path, lake, None))
    with pytest.raises(SinkError, match=rf"s3://{BUCKET}/ext/wazuh/.*: no AWS credentials found .*spool's owner"):
        sink.deliver([parquet_object(tmp_path, 2001, "20240422")])


def test_describe_names_bucket_prefixes_endpoint_and_role(lake, tmp_path):
    sink = S3Sink(settings_for(tmp_path, lake, "arn:aws:iam::123456789012:role/p"))
    assert sink.describe() == (
        f"s3://{BUCKET}/ext/wazuh/, s3://{BUCKET}/ext/wazuh_detect/ at {lake.url} as arn:aws:iam::123456789012:role/p"
    )


@pytest.mark.parametrize(
    ("code", "message", "sse", "expected"),
    [
        ("KMS.DisabledException", "The key is disabled", "aws:kms", r"GenerateDataKey .* bucket's KMS key k-1"),
        ("AccessDenied", "User is not authorized to perform kms:GenerateDataKey", "none", r"kms:GenerateDataKey"),
        ("ExpiredToken", "The provided token has expired.", "none", r"temporary credentials expired"),
    ],
)
def test_reasons_for_kms_and_expired_credentials(tmp_path, lake, code, message, sse, expected):
    # moto checks neither KMS grants nor token expiry, so these replies are built by hand.
    extra = {"WAZUH_OCSF_SSE": sse}
    if sse == "aws:kms":
        extra["WAZUH_OCSF_SSE_KMS_KEY_ID"] = "k-1"
    sink = S3Sink(settings_for(tmp_path, lake, None, **extra))
    error = ClientError({"Error": {"Code": code, "Message": message}}, "PutObject")
    assert re.search(expected, sink._reason(error, "ext/wazuh/region=x/k", None))


def test_named_transient_errors_only():
    def client_error(code, status):
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")

    assert s3_module._is_transient(client_error("SlowDown", 503))
    assert s3_module._is_transient(client_error("InternalError", 500))
    assert s3_module._is_transient(client_error("Whatever", 502))
    assert not s3_module._is_transient(client_error("AccessDenied", 403))
    assert not s3_module._is_transient(client_error("NoSuchBucket", 404))
    assert not s3_module._is_transient(OSError("disk"))
