"""Flush a real manager's spool to both sinks at once: its local ``output_dir`` and Security Lake's
bucket on moto's S3/STS/IAM server (``tests/s3_server.py``), through AssumeRole with the external
id, every setting written by the installer as an administrator would (not a test module).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from s3_server import ACCOUNT_ID, REGION, LakeServer

BUCKET = "aws-security-data-lake-us-east-1-realmgr01"
EXTERNAL_ID = "wazuh-ext-real-manager"
#: Security Lake custom source per OCSF class.
SOURCES = {2001: "wazuh", 2004: "wazuhdet"}
UID_PARENT = {2001: "finding", 2004: "finding_info"}


def finding_uid(event: dict) -> str:
    return event[UID_PARENT[event["class_uid"]]]["uid"]


def alert_id(event: dict) -> str:
    """The Wazuh alert id an event was mapped from (``metadata.uid``)."""
    return event["metadata"]["uid"]


@dataclass
class Delivery:
    """What two flushes in a row delivered (the second must find nothing left)."""

    output: str
    #: Parquet objects of the local sink: path relative to ``output_dir`` → bytes.
    local: dict
    #: Parquet objects in the bucket: key → bytes.
    bucket: dict

    def events(self, objects: dict) -> list:
        """Every row of ``objects`` as an OCSF event (nulls removed); checks schema and partition of each."""
        import pyarrow.parquet as pq
        from ocsf_events import rows_to_events

        from wazuh_ocsf.flush.arrow_schema import schema_for

        events = []
        for key, data in objects.items():
            table = pq.read_table(io.BytesIO(data))
            class_uid = table.column("class_uid")[0].as_py()
            assert table.schema == schema_for(class_uid), key
            partition = f"ext/{SOURCES[class_uid]}/region={REGION}/accountId={ACCOUNT_ID}/eventDay="
            assert key.startswith(partition), key
            events += rows_to_events(table.to_pylist())
        return events


def deliver(manager, *, ocsf_class: str) -> Delivery:
    """Point ``manager`` at a fresh lake with the installer (and ``--ocsf-class``), flush twice,
    collect both sinks; then stop the server and restore the manager's base installation.

    The server lives only for this call: ``LakeServer`` switches moto's authentication on through
    the process environment, which every child process (other tests' included) would inherit."""
    lake = LakeServer().start()
    secret = manager.home.parent / "external-id"
    try:
        session, role_arn = lake.create_lake(BUCKET, prefixes=[f"ext/{s}/" for s in SOURCES.values()],
                                             external_id=EXTERNAL_ID)
        keys = session.get_credentials()
        secret.write_text(EXTERNAL_ID + "\n")
        manager.install(
            "--bucket", BUCKET, "--region", REGION, "--account-id", ACCOUNT_ID, "--source-name", SOURCES[2001],
            "--role-arn", role_arn, "--external-id-file", str(secret), "--ocsf-class", ocsf_class,
            "--set", f"WAZUH_OCSF_S3_ENDPOINT_URL={lake.url}", "--set", f"WAZUH_OCSF_STS_ENDPOINT_URL={lake.url}",
            "--set", f"WAZUH_OCSF_DETECTION_FINDING_SOURCE={SOURCES[2004]}",
        )  # fmt: skip
        # The writer's keys, as the flush service would get them (environment or instance profile).
        env = {"AWS_ACCESS_KEY_ID": keys.access_key, "AWS_SECRET_ACCESS_KEY": keys.secret_key,
               "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
        done = manager.cli("flush", env=env)
        again = manager.cli("flush", env=env)  # nothing left: nothing sent twice
        bucket = {}
        for key in lake.keys(BUCKET):
            body = lake.get(BUCKET, key)["Body"]
            bucket[key] = body.read() if hasattr(body, "read") else body
        local = {str(p.relative_to(manager.output_dir)): p.read_bytes()
                 for p in sorted(Path(manager.output_dir).rglob("*.parquet"))}
    finally:
        lake.close()
        secret.unlink(missing_ok=True)
        manager.restore()
    return Delivery(done.stdout + again.stdout, local, bucket)
