"""The flusher's log file: one line per flush or failure, rotated, never a secret."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

import pytest
from flush_support import make_events, settings_env, spool_events
from ops_support import clean_env, cli
from s3_server import ACCOUNT_ID, REGION

from wazuh_ocsf import logfile
from wazuh_ocsf.config import load_settings

BUCKET = "aws-security-data-lake-us-east-1-logs01"
EXTERNAL_ID = "ext-id-secret-4b7d19"


@pytest.fixture
def provider(lake):
    yield lake.create_lake(BUCKET, prefixes=("ext/wazuh/", "ext/wazuhdet/"), external_id=EXTERNAL_ID)
    lake.delete_bucket(BUCKET)
    lake.delete_identities()


def test_flush_log_lines_hold_no_secret(tmp_path, lake, provider):
    session, role_arn = provider
    keys = session.get_credentials()
    (tmp_path / "logs").mkdir()
    environ = settings_env(tmp_path, region=REGION, account_id=ACCOUNT_ID)
    spool_events(load_settings(environ=environ), make_events(5))
    env = clean_env(
        **environ,
        WAZUH_OCSF_BUCKET=BUCKET,
        WAZUH_OCSF_ROLE_ARN=role_arn,
        WAZUH_OCSF_EXTERNAL_ID="wrong-" + EXTERNAL_ID,
        WAZUH_OCSF_S3_ENDPOINT_URL=lake.url,
        WAZUH_OCSF_STS_ENDPOINT_URL=lake.url,
        WAZUH_OCSF_S3_RETRIES="0",
        AWS_ACCESS_KEY_ID=keys.access_key,
        AWS_SECRET_ACCESS_KEY=keys.secret_key,
    )
    failed = cli("flush", env=env)
    assert failed.returncode == 1
    env["WAZUH_OCSF_EXTERNAL_ID"] = EXTERNAL_ID
    assert cli("flush", env=env).returncode == 0
    text = (tmp_path / "logs" / "wazuh-ocsf.log").read_text()
    lines = text.splitlines()
    errors = [line for line in lines if ": ERROR: " in line]
    assert errors and all(" wazuh-ocsf-flush[" in line for line in lines)  # one line per record
    assert any("AccessDenied" in line for line in errors)
    summaries = [line for line in lines if ": INFO: flushed " in line]
    assert len(summaries) == 2
    assert summaries[-1].split(": INFO: ")[1].startswith("flushed 1 segment: 5 events in ")
    for secret in (EXTERNAL_ID, keys.secret_key):
        assert secret not in text
        assert secret not in failed.stdout + failed.stderr


@pytest.fixture
def isolated_logging():
    """Undo what ``logfile.configure`` does to the process's loggers, so later tests see none of it."""
    root, ours = logging.getLogger(), logging.getLogger("wazuh_ocsf")
    before = list(root.handlers), root.level, ours.level
    yield
    for handler in root.handlers:
        if handler not in before[0]:
            handler.close()
    root.handlers[:], root.level = before[0], before[1]
    ours.setLevel(before[2])


def test_any_record_holding_a_secret_is_masked(tmp_path, isolated_logging):
    (tmp_path / "logs").mkdir()
    settings = load_settings(environ=settings_env(tmp_path, external_id="ext-0123456789"))
    path = logfile.configure(settings, "test")
    logging.getLogger("wazuh_ocsf.something").info("assuming with ExternalId=ext-0123456789 now")
    logging.getLogger("botocore.credentials").info("third-party INFO is not logged")
    logging.getLogger("botocore.endpoint").warning("third-party warning ext-0123456789")
    lines = [line.split(": ", 1)[1] for line in Path(path).read_text().splitlines()]
    assert lines == ["INFO: assuming with ExternalId=**** now", "WARNING: third-party warning ****"]


def test_the_log_file_rotates(tmp_path, monkeypatch, isolated_logging):
    (tmp_path / "logs").mkdir()
    monkeypatch.setattr(logfile, "MAX_BYTES", 2000)
    settings = load_settings(environ=settings_env(tmp_path))
    path = logfile.configure(settings, "test")
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert [h.backupCount for h in handlers] == [logfile.BACKUP_COUNT]
    for number in range(400):
        logging.getLogger("wazuh_ocsf.flush.flusher").info("flushed segment %d of many", number)
    for handler in handlers:
        handler.close()
    assert path == str(tmp_path / "logs" / "wazuh-ocsf.log")
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "wazuh-ocsf.log", *[f"wazuh-ocsf.log.{n}" for n in range(1, logfile.BACKUP_COUNT + 1)]
    ]


def test_without_a_logs_directory_the_flush_still_runs(tmp_path):
    environ = settings_env(tmp_path, output_dir=str(tmp_path / "lake"))
    spool_events(load_settings(environ=environ), make_events(2))
    done = cli("flush", env=clean_env(**environ))
    assert done.returncode == 0
    assert "note: cannot write the log file" in done.stderr
