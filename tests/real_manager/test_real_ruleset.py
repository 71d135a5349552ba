"""Every alert analysisd makes from Wazuh's ruleset tests reaches the hook, is spooled, and after
``wazuh-ocsf flush`` arrives exactly once in the local sink and in Security Lake's bucket (moto's
S3/STS/IAM server, AssumeRole with the external id), every row valid OCSF 1.1.0, both classes.
"""

from __future__ import annotations

import io
import shutil
from collections import Counter
from pathlib import Path

import pytest

from . import manager_kit

pq = pytest.importorskip("pyarrow.parquet")
jsonschema = pytest.importorskip("jsonschema")
ocsf_json_schema = pytest.importorskip("ocsf_json_schema")

from ocsf_events import rows_to_events  # noqa: E402
from s3_server import ACCOUNT_ID, REGION, LakeServer  # noqa: E402

from wazuh_ocsf.arrow_schema import schema_for  # noqa: E402
from wazuh_ocsf.mapping import CLASS_NAMES  # noqa: E402

BUCKET = "aws-security-data-lake-us-east-1-realmgr01"
EXTERNAL_ID = "wazuh-ext-real-manager"
SOURCES = {2001: "wazuh", 2004: "wazuhdet"}
UID_PARENT = {2001: "finding", 2004: "finding_info"}


def finding_uid(event: dict) -> str:
    return event[UID_PARENT[event["class_uid"]]]["uid"]


def alert_id(event: dict) -> str:
    """The Wazuh alert id an event was mapped from (``metadata.uid``)."""
    return event["metadata"]["uid"]


def read_objects(blobs: dict) -> dict:
    """key → OCSF events (nulls removed) of every Parquet object; each object has its class's schema."""
    out = {}
    for key, data in blobs.items():
        table = pq.read_table(io.BytesIO(data))
        class_uid = table.column("class_uid")[0].as_py()
        assert table.schema == schema_for(class_uid), key
        assert f"/ext/{SOURCES[class_uid]}/region={REGION}/accountId={ACCOUNT_ID}/eventDay=" in "/" + key, key
        out[key] = rows_to_events(table.to_pylist())
    return out


def local_objects(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def lake():
    server = LakeServer().start()
    try:
        yield server
    finally:
        server.close()


def flush_everywhere(manager, lake, *, ocsf_class: str) -> tuple:
    """Configure the lake with the installer, flush once; (stdout, local objects, bucket objects)."""
    session, role_arn = lake.create_lake(BUCKET, prefixes=[f"ext/{s}/" for s in SOURCES.values()],
                                         external_id=EXTERNAL_ID)
    keys = session.get_credentials()
    secret = manager.home.parent / "external-id"
    secret.write_text(EXTERNAL_ID + "\n")
    output = manager.home.parent / "lake-local"
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir()
    shutil.chown(output, "wazuh", "wazuh")
    manager.install(
        "--bucket", BUCKET, "--region", REGION, "--account-id", ACCOUNT_ID, "--source-name", SOURCES[2001],
        "--role-arn", role_arn, "--external-id-file", str(secret), "--ocsf-class", ocsf_class,
        "--output-dir", str(output),
        "--set", f"WAZUH_OCSF_S3_ENDPOINT_URL={lake.url}", "--set", f"WAZUH_OCSF_STS_ENDPOINT_URL={lake.url}",
        "--set", f"WAZUH_OCSF_DETECTION_FINDING_SOURCE={SOURCES[2004]}",
    )  # fmt: skip
    env = {"AWS_ACCESS_KEY_ID": keys.access_key, "AWS_SECRET_ACCESS_KEY": keys.secret_key,
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    try:
        done = manager.cli("flush", env=env)
        again = manager.cli("flush", env=env)  # nothing left: nothing sent twice
        bucket = {key: lake.get(BUCKET, key)["Body"] for key in lake.keys(BUCKET)}
        bucket = {key: body.read() if hasattr(body, "read") else body for key, body in bucket.items()}
    finally:
        lake.delete_bucket(BUCKET)
        lake.delete_identities()
    return done.stdout + again.stdout, local_objects(output), bucket


@pytest.fixture(scope="module")
def validators():
    embedded = ocsf_json_schema.OcsfJsonSchemaEmbedded(ocsf_json_schema.get_ocsf_schema(version="1.1.0"))
    cache: dict = {}

    def get(class_uid: int, profiles: tuple):
        if (class_uid, profiles) not in cache:
            schema = embedded.get_class_schema(CLASS_NAMES[class_uid], profiles=list(profiles))
            cache[class_uid, profiles] = jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.FormatChecker()
            )
        return cache[class_uid, profiles]

    return get


@pytest.fixture(scope="module")
def delivered_2001(ruleset_run, lake) -> tuple:
    """The session's ruleset run, flushed as Security Findings to both sinks."""
    return flush_everywhere(ruleset_run.manager, lake, ocsf_class="security_finding")


@pytest.fixture(scope="module")
def delivered_2004(_shared_manager, ruleset_alerts, lake) -> tuple:
    """The same alerts through the real integratord into a home set to Detection Finding, flushed."""
    manager = _shared_manager
    manager.reset()
    manager.install("--ocsf-class", "detection_finding")
    try:
        manager_kit.feed(manager, ruleset_alerts)
        spooled = manager.spooled_events()
        return (spooled, *flush_everywhere(manager, lake, ocsf_class="detection_finding"))
    finally:
        manager.restore()


def test_the_ruleset_makes_enough_real_alerts(ruleset_run):
    """The run is what it claims: ~2,000 lines, over a thousand alerts from hundreds of rules."""
    alerts = ruleset_run.alerts
    assert len(alerts) > 1000, ruleset_run.output
    assert len({a["rule"]["id"] for a in alerts}) > 300
    assert len({a["id"] for a in alerts}) == len(alerts)
    assert "fed 19" in ruleset_run.output  # 1,9xx lines fed (ini_to_lines: every 'pass' line)


def test_every_alert_reaches_the_hook_and_is_spooled_once(ruleset_run):
    spooled = Counter(alert_id(e) for e in ruleset_run.spooled)
    assert spooled == Counter(a["id"] for a in ruleset_run.alerts)
    assert ruleset_run.manager.dead_letters() == []


def test_flush_delivers_every_alert_exactly_once_to_both_sinks(ruleset_run, delivered_2001):
    output, local, bucket = delivered_2001
    expected = Counter(a["id"] for a in ruleset_run.alerts)
    for objects in (local, bucket):
        events = [e for evs in read_objects(objects).values() for e in evs]
        assert Counter(alert_id(e) for e in events) == expected
        assert len({finding_uid(e) for e in events}) == len(events)
        assert {e["class_uid"] for e in events} == {2001}
    assert sorted(Path(k).name for k in local) == sorted(Path(k).name for k in bucket)
    assert f"{len(expected)} events" in output, output


def test_detection_findings_through_the_real_integratord(ruleset_run, delivered_2004):
    spooled, _output, local, bucket = delivered_2004
    expected = Counter(a["id"] for a in ruleset_run.alerts)
    assert Counter(alert_id(e) for e in spooled) == expected
    for objects in (local, bucket):
        events = [e for evs in read_objects(objects).values() for e in evs]
        assert Counter(alert_id(e) for e in events) == expected
        assert {e["class_uid"] for e in events} == {2004}


@pytest.mark.parametrize("class_uid", [2001, 2004], ids=lambda uid: CLASS_NAMES[uid])
def test_every_delivered_row_validates_against_ocsf_1_1_0(class_uid, request, validators):
    delivered = request.getfixturevalue("delivered_2001" if class_uid == 2001 else "delivered_2004")
    events = [e for evs in read_objects(delivered[-1]).values() for e in evs]
    assert events
    failures = []
    for event in events:
        validator = validators(class_uid, tuple(event["metadata"].get("profiles", ())))
        failures += [f"{finding_uid(event)}: {'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
                     for error in validator.iter_errors(event)]
    assert failures[:20] == []
