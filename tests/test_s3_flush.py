"""``wazuh-ocsf flush`` into a Security Lake bucket, end to end, as a real process.

The spool is filled through the real Spool; the flush runs as ``python -m wazuh_ocsf.cli
flush`` with the writer's keys in its environment, assumes the provider role with the
external id and PUTs into moto's S3 (IAM authentication on). It is killed with SIGKILL at
each injected point, then run again: every event must be in the bucket exactly once.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pyarrow.parquet as pq
import pytest
from flush_support import make_events, settings_env, spool_events, uid_of
from s3_server import ACCOUNT_ID, REGION, allow

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.flush.arrow_schema import schema_for

BUCKET = "aws-security-data-lake-us-east-1-e2e001"
EXTERNAL_ID = "wazuh-ext-e2e"
PREFIXES = ("ext/wazuh/", "ext/wazuhdet/")


@pytest.fixture
def provider(lake):
    """The lake: bucket, provider role (PutObject under the prefixes), writer (AssumeRole only)."""
    yield lake.create_lake(BUCKET, prefixes=PREFIXES, external_id=EXTERNAL_ID)
    lake.delete_bucket(BUCKET)
    lake.delete_identities()


@pytest.fixture
def spooled(tmp_path):
    """Settings and the events spooled: both classes, spread over three days, in small segments (one batch)."""
    environ = settings_env(tmp_path, region=REGION, account_id=ACCOUNT_ID, segment_max_bytes="16K")
    events = make_events(40, class_uid=2001) + make_events(15, class_uid=2004, start_ms=1713900000000)
    spool_events(load_settings(environ=environ), events)
    return environ, events


def run_flush(environ: dict, lake, provider, *, crash_at: str | None = None) -> subprocess.CompletedProcess:
    """``wazuh-ocsf flush`` in a child process with the writer's keys and the lake settings."""
    session, role_arn = provider
    keys = session.get_credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WAZUH_OCSF_"))}
    env.update(environ)
    env.update(
        {
            "WAZUH_OCSF_BUCKET": BUCKET,
            "WAZUH_OCSF_ROLE_ARN": role_arn,
            "WAZUH_OCSF_EXTERNAL_ID": EXTERNAL_ID,
            "WAZUH_OCSF_S3_ENDPOINT_URL": lake.url,
            "WAZUH_OCSF_STS_ENDPOINT_URL": lake.url,
            "WAZUH_OCSF_S3_RETRIES": "0",
            "AWS_ACCESS_KEY_ID": keys.access_key,
            "AWS_SECRET_ACCESS_KEY": keys.secret_key,
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    if crash_at:
        env["WAZUH_OCSF_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "wazuh_ocsf.cli", "flush"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def bucket_uids(lake) -> Counter:
    """Finding uids of every object in the bucket (read back as the admin), with counts."""
    uids = Counter()
    for key in lake.keys(BUCKET):
        table = pq.read_table(io.BytesIO(lake.get(BUCKET, key)["Body"]))
        class_uid = table.column("class_uid")[0].as_py()
        assert key.startswith(PREFIXES[0] if class_uid == 2001 else PREFIXES[1])
        assert table.schema == schema_for(class_uid)
        parent = "finding" if class_uid == 2001 else "finding_info"
        uids.update(row["uid"] for row in table.column(parent).to_pylist())
    return uids


def test_flush_delivers_every_event_once_under_the_right_partitions(lake, provider, spooled):
    environ, events = spooled
    done = run_flush(environ, lake, provider)
    assert done.returncode == 0, done.stderr
    assert bucket_uids(lake) == Counter(uid_of(e) for e in events)
    partitions = {key.rsplit("/", 1)[0] + "/" for key in lake.keys(BUCKET)}
    assert partitions == {
        f"{PREFIXES[0] if e['class_uid'] == 2001 else PREFIXES[1]}region={REGION}/accountId={ACCOUNT_ID}/"
        f"eventDay={time.strftime('%Y%m%d', time.gmtime(e['time'] // 1000))}/"
        for e in events
    }

    again = run_flush(environ, lake, provider)  # nothing left: nothing sent twice
    assert again.returncode == 0, again.stderr
    assert bucket_uids(lake) == Counter(uid_of(e) for e in events)


@pytest.mark.parametrize("point", ["parquet", "deliver", "release", "release-member"])
def test_killed_flush_then_normal_flush_delivers_exactly_once(lake, provider, spooled, point):
    environ, events = spooled
    killed = run_flush(environ, lake, provider, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # killed before the upload: nothing there; after it (not yet acknowledged or released): all of it
    assert bucket_uids(lake) == (Counter() if point == "parquet" else Counter(uid_of(e) for e in events))

    done = run_flush(environ, lake, provider)
    assert done.returncode == 0, done.stderr
    assert bucket_uids(lake) == Counter(uid_of(e) for e in events)


def test_server_down_keeps_the_data_and_delivers_after_recovery(lake, provider, spooled):
    environ, events = spooled
    lake.stop()
    try:
        failed = run_flush(environ, lake, provider)
    finally:
        lake.start()
    assert failed.returncode == 1
    assert f"s3://{BUCKET}/ext/wazuh" in failed.stderr
    assert "cannot reach" in failed.stderr
    assert lake.keys(BUCKET) == []

    done = run_flush(environ, lake, provider)
    assert done.returncode == 0, done.stderr
    assert bucket_uids(lake) == Counter(uid_of(e) for e in events)


def test_access_denied_keeps_the_data_and_names_the_permission(lake, provider, tmp_path):
    environ = settings_env(tmp_path, region=REGION, account_id=ACCOUNT_ID, security_finding_source="not_granted")
    spool_events(load_settings(environ=environ), make_events(5, class_uid=2001))
    failed = run_flush(environ, lake, provider)
    assert failed.returncode == 1
    assert f"needs s3:PutObject on arn:aws:s3:::{BUCKET}/ext/not_granted/*" in failed.stderr
    assert lake.keys(BUCKET) == []


@pytest.fixture
def two_sources(lake):
    """Security Lake's shape for two custom sources: each has its own provider role, allowed to write
    under its own location only; the writer may assume both (with the external id)."""
    lake.create_bucket(BUCKET)
    writer = lake.create_user("wazuh-writer", allow("sts:AssumeRole", "*"))
    roles = [
        lake.create_provider_role(
            f"AmazonSecurityLake-Provider-{name}-us-east-1",
            trusted_user="wazuh-writer",
            external_id=EXTERNAL_ID,
            statements=[allow(["s3:PutObject", "s3:AbortMultipartUpload"], [f"arn:aws:s3:::{BUCKET}/{prefix}*"])],
        )
        for name, prefix in (("wazuh", PREFIXES[0]), ("wazuhdet", PREFIXES[1]))
    ]
    yield writer, roles
    lake.delete_bucket(BUCKET)
    lake.delete_identities()


def test_each_class_is_written_by_its_own_sources_provider_role(lake, two_sources, spooled):
    environ, events = spooled
    writer, (finding_role, detection_role) = two_sources
    # ROLE_ARN alone: the detection source's objects are refused by the finding source's role, and kept
    failed = run_flush(environ, lake, (writer, finding_role))
    assert failed.returncode == 1
    assert f"{finding_role} needs s3:PutObject on arn:aws:s3:::{BUCKET}/{PREFIXES[1]}*" in failed.stderr

    both = {**environ, "WAZUH_OCSF_DETECTION_FINDING_ROLE_ARN": detection_role}
    done = run_flush(both, lake, (writer, finding_role))
    assert done.returncode == 0, done.stderr
    assert bucket_uids(lake) == Counter(uid_of(e) for e in events)
