"""Faults that must end a flush cleanly: a peer that never answers, a bad header, a missing spool.

Each runs the real ``wazuh-ocsf flush`` command as a process (a hang fails the test through
the subprocess timeout instead of hanging the suite) against real local servers.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
from flush_support import corpus_events, make_settings, settings_env, spool_events
from ops_support import ALERTS, clean_env, cli, manager_tree, run_hook

from wazuh_ocsf.errors import ConfigError
from wazuh_ocsf.flush import state as flush_state
from wazuh_ocsf.sinks.http import parse_auth_header
from wazuh_ocsf.spool import dead_letter
from wazuh_ocsf.spool.store import Spool


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)  # kept open, never read, never answered

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


def flush_cli(tmp_path: Path, timeout: int = 60, **settings: str):
    (tmp_path / "logs").mkdir(exist_ok=True)
    env = clean_env(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", **settings_env(tmp_path, **settings))
    started = time.monotonic()
    done = cli("flush", "--json", env=env, timeout=timeout)
    return done, time.monotonic() - started


def test_a_collector_that_never_answers_is_cut_off_by_the_flush_deadline(tmp_path, silent):
    # Without a deadline: 6 attempts x 30 s of waiting for an answer, plus backoff.
    settings = dict(http_url=f"http://127.0.0.1:{silent.port}/", http_timeout="30", http_retries="5",
                    flush_deadline="2")
    spool_events(make_settings(tmp_path, **settings), corpus_events()[:3])
    done, seconds = flush_cli(tmp_path, **settings)
    assert done.returncode == 1, done.stderr
    assert seconds < 20, seconds
    assert "Traceback" not in done.stderr
    assert "WAZUH_OCSF_FLUSH_DEADLINE" in done.stderr
    spool = Spool(make_settings(tmp_path, **settings))
    assert len(spool.sealed_segments()) == 1  # kept for the next flush
    with spool.flush_lock():  # released: the next flush may run at once
        pass
    assert "deadline" in flush_state.load(str(tmp_path / "spool"))["last_failure"]["reason"]


def test_an_s3_endpoint_that_never_answers_is_cut_off_by_the_flush_deadline(tmp_path, silent):
    # Without a deadline: botocore's 3 attempts x 3 attempts per object x 10 s read timeout, plus backoff.
    settings = dict(bucket="lake", s3_endpoint_url=f"http://127.0.0.1:{silent.port}", s3_read_timeout="10",
                    s3_retries="2", flush_deadline="2")
    spool_events(make_settings(tmp_path, **settings), corpus_events()[:3])
    done, seconds = flush_cli(tmp_path, **settings)
    assert done.returncode == 1, done.stderr
    # The deadline, plus at most one read timeout for the request already waiting.
    assert seconds < 2 + 10 + 8, seconds
    assert "Traceback" not in done.stderr
    assert "WAZUH_OCSF_FLUSH_DEADLINE" in done.stderr
    assert len(Spool(make_settings(tmp_path, **settings)).sealed_segments()) == 1


def test_s3_and_http_timeouts_are_settings(tmp_path):
    from wazuh_ocsf.sinks.http import HttpSink
    from wazuh_ocsf.sinks.s3 import S3Sink

    settings = make_settings(tmp_path, bucket="lake", http_url="https://collector.example/", s3_connect_timeout="3",
                             s3_read_timeout="7", http_connect_timeout="4", http_timeout="9")
    s3 = S3Sink(settings)
    assert (s3._client_config.connect_timeout, s3._client_config.read_timeout) == (3, 7)
    assert HttpSink(settings).timeout == (4, 9)
    defaults = make_settings(tmp_path)
    assert (defaults.s3_connect_timeout, defaults.s3_read_timeout, defaults.flush_deadline) == (10, 60, 600)


@pytest.mark.parametrize("value", ["Authorization: Bearer ключ", "Bearer \u20ac5", "X-Key: a\x00b", "X-Key: a\x7fb"])
def test_an_auth_header_http_cannot_send_is_a_config_error(value):
    with pytest.raises(ConfigError, match="WAZUH_OCSF_HTTP_AUTH_HEADER: character") as caught:
        parse_auth_header(value)
    assert value.split()[-1] not in str(caught.value)  # the secret stays out of the message


def test_a_non_latin1_auth_header_fails_the_flush_at_start_and_is_recorded(tmp_path):
    settings = dict(http_url="http://127.0.0.1:9/", http_auth_header="Authorization: Bearer tøken-ключ")
    spool_events(make_settings(tmp_path, http_url="http://127.0.0.1:9/"), corpus_events()[:1])
    done, _ = flush_cli(tmp_path, **settings)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "UnicodeEncodeError" not in done.stderr
    assert "ERROR: configuration: WAZUH_OCSF_HTTP_AUTH_HEADER: character 29 is not Latin-1" in done.stderr
    assert "ключ" not in done.stderr
    assert "WAZUH_OCSF_HTTP_AUTH_HEADER" in flush_state.load(str(tmp_path / "spool"))["last_failure"]["reason"]


def test_the_flush_state_is_kept_inside_an_existing_spool_only(tmp_path):
    flush_state.record_failure(str(tmp_path / "gone"), "spool missing")
    assert not (tmp_path / "gone").exists()
    (tmp_path / "spool").mkdir(mode=0o750)
    flush_state.record_failure(str(tmp_path / "spool"), "boom")
    state_dir = tmp_path / "spool" / "state"
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o750 & ~_umask()
    assert json.loads((state_dir / "last_flush.json").read_text())["last_failure"]["reason"] == "boom"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("timestamp", ["1969-07-20T20:17:40.000+0000", "0001-01-01T00:00:00.000+0000"])
def test_an_alert_the_flusher_could_not_store_is_refused_by_the_hook_and_kept(tmp_path, timestamp):
    spool_dir = tmp_path / "ossec" / "wazuh-ocsf" / "spool"
    home = manager_tree(tmp_path, config={"WAZUH_OCSF_SPOOL_DIR": str(spool_dir), "WAZUH_OCSF_NODE_NAME": "m-1",
                                          "WAZUH_OCSF_OUTPUT_DIR": str(tmp_path / "lake")})
    env = clean_env(WAZUH_OCSF_CONFIG=str(home / "etc" / "wazuh-ocsf.conf"))
    item = json.loads((ALERTS / "fim-added.json").read_bytes())
    item["timestamp"] = timestamp
    alert = tmp_path / "old.alert"
    alert.write_text(json.dumps(item))
    hooked = run_hook(home, alert, env)
    assert hooked.returncode == 10, hooked.stderr
    (kept,) = dead_letter.iter_records(str(spool_dir))
    assert kept["data"] == alert.read_bytes() and "outside 1970-01-01..9999-12-31" in kept["reason"]
    flushed = cli("flush", "--json", env=env)
    assert flushed.returncode == 0, flushed.stderr
    assert json.loads(flushed.stdout)["dead_lettered"] == 0
