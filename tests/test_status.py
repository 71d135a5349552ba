"""``wazuh-ocsf status``: figures from a real spool and real flushes; exit 0 healthy, 1 not."""

from __future__ import annotations

import json
import time

from flush_support import make_events, settings_env, spool_events
from ops_support import clean_env, cli

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.errors import SpoolFullError
from wazuh_ocsf.flush import state as flush_state
from wazuh_ocsf.operations.status import collect
from wazuh_ocsf.spool.line import encode_event
from wazuh_ocsf.spool.store import Spool

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


# -- issue 12: what an administrator and a monitor read ---------------------------------------------

LEAKY_URL = "http://collector:pw-9f3e@127.0.0.1:9/services/collector?token=abc"  # port 9: nobody listens


def test_partial_delivery_is_counted_and_no_url_secret_leaks_anywhere(tmp_path):
    """Items 3 and 5: the local sink got every object while the HTTP collector was down."""
    env = environ(tmp_path, http_url=LEAKY_URL, http_retries="0")
    spool_events(load_settings(environ=env), make_events(9))
    done = cli("flush", "--json", env=clean_env(**env))
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    objects = len(list((tmp_path / "lake").rglob("*.parquet")))
    assert objects >= 1 and summary["objects"] == 0 and summary["left"] == 1
    assert summary["delivered"] == {
        f"local:{tmp_path}/lake": {"objects": objects, "events": 9, "bytes": summary["delivered"][
            f"local:{tmp_path}/lake"]["bytes"]}
    }
    text = cli("flush", env=clean_env(**env))  # the local sink has them: only HTTP is tried again
    assert text.returncode == 1 and "partial delivery" not in text.stdout
    (tmp_path / "spool2").mkdir()
    env2 = dict(env, WAZUH_OCSF_SPOOL_DIR=str(tmp_path / "spool2"), WAZUH_OCSF_OUTPUT_DIR=str(tmp_path / "lake2"))
    spool_events(load_settings(environ=env2), make_events(4))
    text = cli("flush", env=clean_env(**env2))
    assert text.returncode == 1
    assert text.stdout.startswith("flushed 0 segments: 0 events in 0 objects (0 B)")
    assert f"; partial delivery: local:{tmp_path}/lake2 received 4 events in " in text.stdout

    status_text = cli("status", env=clean_env(**env)).stdout
    status_json = cli("status", "--json", env=clean_env(**env)).stdout
    seen = {
        "flush stderr": done.stderr + text.stderr,
        "flush --json": done.stdout,
        "logs/wazuh-ocsf.log": (tmp_path / "logs" / "wazuh-ocsf.log").read_text(),
        "state/last_flush.json": (tmp_path / "spool" / "state" / "last_flush.json").read_text(),
        "status": status_text,
        "status --json": status_json,
    }
    for where, what in seen.items():
        assert "token=abc" not in what and "pw-9f3e" not in what, where
    assert "127.0.0.1:9/services/collector" in seen["logs/wazuh-ocsf.log"]
    assert "WAZUH_OCSF_HTTP_URL=http://127.0.0.1:9/services/collector?****" in status_text


def test_an_http_only_setup_is_healthy_and_lists_the_collector(tmp_path):
    """Item 4: no bucket, no output dir, no custom source: the HTTP sink is the destination."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Ok(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/ingest?key=s3cr3t-key"
        env = {
            "WAZUH_OCSF_WAZUH_HOME": str(tmp_path),
            "WAZUH_OCSF_CONFIG": str(tmp_path / "none.conf"),
            "WAZUH_OCSF_SPOOL_DIR": str(tmp_path / "spool"),
            "WAZUH_OCSF_HTTP_URL": url,
        }
        spool_events(load_settings(environ=env), make_events(3))
        assert cli("flush", env=clean_env(**env)).returncode == 0
        code, data = status(env)
    finally:
        server.shutdown()
    assert code == 0, data["problems"]
    public = f"http://127.0.0.1:{server.server_port}/ingest?****"
    assert data["destinations"] == {"detection_finding": [public], "security_finding": [public]}
    assert data["last_delivery"]["destinations"] == {f"http:http://127.0.0.1:{server.server_port}/ingest": {
        "objects": data["last_delivery"]["objects"], "events": 3, "bytes": data["last_delivery"]["bytes"]}}
    assert "s3cr3t-key" not in json.dumps(data)


def test_status_names_the_class_and_keeps_the_last_delivery_apart_from_empty_flushes(tmp_path):
    """Item 12."""
    env = environ(tmp_path)
    spool_events(load_settings(environ=env), make_events(6))
    assert cli("flush", env=clean_env(**env)).returncode == 0
    code, first = status(env)
    assert cli("flush", env=clean_env(**env)).returncode == 0  # nothing to send
    code, data = status(env)
    assert code == 0 and data["format"] == 1
    assert data["flush"]["last_success"]["events"] == 0  # the empty run: the schedule works
    delivery = data["last_delivery"]
    assert delivery == first["last_delivery"]
    assert (delivery["events"], delivery["complete"]) == (6, True)
    assert list(delivery["destinations"]) == [f"local:{tmp_path}/lake"]
    text = cli("status", env=clean_env(**env, WAZUH_OCSF_OCSF_CLASS="2001")).stdout
    assert "  WAZUH_OCSF_OCSF_CLASS=security_finding\n" in text
    assert "=2001" not in text
    line = next(x for x in text.splitlines() if x.startswith("  last delivery   "))
    assert f": 6 events in {delivery['objects']} object" in line and line.endswith(f"to local:{tmp_path}/lake")
