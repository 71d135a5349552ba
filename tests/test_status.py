"""``wazuh-ocsf status``: figures from a real spool and real flushes; exit 0 healthy, 1 not."""

from __future__ import annotations

import json
import time

from flush_support import make_events, settings_env, spool_events
from ops_support import clean_env, cli

from wazuh_ocsf import flush_state
from wazuh_ocsf.config import load_settings
from wazuh_ocsf.errors import SpoolFullError
from wazuh_ocsf.spool import Spool
from wazuh_ocsf.spool_line import encode_event
from wazuh_ocsf.status import collect

SECRET = "ext-id-never-shown-7c2a"


def environ(tmp_path, **extra) -> dict:
    env = settings_env(tmp_path, output_dir=str(tmp_path / "lake"), external_id=SECRET, **extra)
    (tmp_path / "logs").mkdir(exist_ok=True)
    return env


def status(env: dict, *args: str):
    done = cli("status", "--json", *args, env=clean_env(**env))
    return done.returncode, json.loads(done.stdout)


def test_backlog_then_flush_then_healthy(tmp_path):
    env = environ(tmp_path)
    spool_events(load_settings(environ=env), make_events(7))
    code, data = status(env)
    assert code == 0, data["problems"]
    assert (data["spool"]["events"], data["spool"]["sealed_segments"] + bool(data["spool"]["active_segment"])) == (7, 1)
    assert data["flush"] == {}
    assert data["warnings"] == ["no flush has run yet"]
    assert data["destinations"]["security_finding"] == [
        f"{tmp_path}/lake/ext/wazuh/region=eu-west-1/accountId=123456789012/eventDay=*/"
    ]
    assert data["config"]["WAZUH_OCSF_EXTERNAL_ID"] == "****"

    assert cli("flush", env=clean_env(**env)).returncode == 0
    code, data = status(env)
    assert code == 0
    assert data["spool"]["events"] == 0
    success = data["flush"]["last_success"]
    assert (success["events"], success["segments"]) == (7, 1)
    assert success["objects"] >= 1
    assert data["problems"] == [] and data["warnings"] == []

    text = cli("status", env=clean_env(**env))
    assert text.returncode == 0
    assert text.stdout.startswith("wazuh-ocsf status: healthy\n")
    assert "last success    " in text.stdout and ": 7 events in " in text.stdout
    assert SECRET not in text.stdout and "WAZUH_OCSF_EXTERNAL_ID=****" in text.stdout


def test_failed_flush_makes_status_unhealthy_until_a_success(tmp_path):
    env = environ(tmp_path)
    spool_events(load_settings(environ=env), make_events(3))
    (tmp_path / "lake").write_text("a file where the output directory should be")
    assert cli("flush", env=clean_env(**env)).returncode == 1
    code, data = status(env)
    assert code == 1
    assert data["flush"]["last_failure"]["left"] == 1
    assert data["problems"] == [f"the last flush failed: {data['flush']['last_failure']['reason']}"]
    assert "lake" in data["flush"]["last_failure"]["reason"]
    text = cli("status", env=clean_env(**env)).stdout
    assert "UNHEALTHY" in text.splitlines()[0] and "PROBLEM: the last flush failed: " in text

    (tmp_path / "lake").unlink()
    assert cli("flush", env=clean_env(**env)).returncode == 0
    code, data = status(env)
    assert code == 0 and data["problems"] == []
    assert data["flush"]["last_failure"]["time"] < data["flush"]["last_success"]["time"]


def test_a_flush_that_cannot_start_is_recorded(tmp_path):
    env = environ(tmp_path)
    del env["WAZUH_OCSF_OUTPUT_DIR"]
    Spool(load_settings(environ=env), create=True)
    done = cli("flush", env=clean_env(**env))
    assert done.returncode == 3 and "no destination" in done.stderr
    code, data = status(env)
    assert code == 1
    assert "no destination" in data["flush"]["last_failure"]["reason"]
    assert any(p.startswith("no destination") for p in data["problems"])


def test_old_backlog_is_unhealthy(tmp_path):
    settings = load_settings(environ=environ(tmp_path))
    spool_events(settings, make_events(2))
    created = Spool(settings).stats()["oldest_segment_time"]
    fresh = collect(settings, max_age=600, now=created + 599)
    assert fresh["healthy"]
    stale = collect(settings, max_age=600, now=created + 3601)
    assert not stale["healthy"]
    assert stale["problems"] == [
        "the oldest spooled event waits for 60m (threshold 10m): is the flush schedule running and delivering? "
        "see logs/wazuh-ocsf.log"
    ]


def test_events_refused_at_the_cap_since_the_last_success(tmp_path):
    settings = load_settings(environ=environ(tmp_path, spool_max_bytes="4k"))
    flush_state.record_failure(settings.spool_dir, "earlier", now=time.time() - 7200)
    line = encode_event(make_events(1)[0])
    spool = Spool(settings, create=True)
    refused = 0
    for _ in range(10):
        try:
            spool.append(line)
        except SpoolFullError:
            refused += 1
    assert refused > 0
    data = collect(settings)
    assert data["spool"]["refused_events"] == refused
    assert any("refused events at its cap" in p for p in data["problems"])


def test_missing_spool_is_unhealthy(tmp_path):
    code, data = status(environ(tmp_path))
    assert code == 1
    assert data["spool"] is None
    assert "does not exist" in data["problems"][0]
