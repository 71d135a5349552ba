from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flush_support import corpus_events, make_settings, spool_events

from wazuh_ocsf.errors import ConfigError, SinkError
from wazuh_ocsf.flush import manifest as manifests
from wazuh_ocsf.flush.flusher import flush, sink_id
from wazuh_ocsf.sinks.http import HttpSink, parse_auth_header, public_url
from wazuh_ocsf.sinks.local import LocalSink
from wazuh_ocsf.sinks.registry import build_sinks
from wazuh_ocsf.spool.store import Spool

TOKEN = "Splunk 0b5f2c1e-secret-token"


class Collector:
    """An HTTP collector on 127.0.0.1 that answers from a script, then 200.

    Requests are recorded on arrival, with their status ("late" when the answer is delayed).
    """

    def __init__(self) -> None:
        self.script: list = []  # [(status, delay seconds)]
        self.requests: list = []  # [(headers, decompressed body)]
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, delay = collector.script.pop(0) if collector.script else (200, 0)
                late = bool(delay)
                collector.requests.append((dict(self.headers), gzip.decompress(body), "late" if late else status))
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                reply = b'{"text":"Success","code":0}' if status == 200 else b"nope"
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/collector/raw?channel=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def accepted(self) -> list:
        return [(headers, body) for headers, body, status in self.requests if status == 200]

    def events(self) -> list:
        return [json.loads(raw) for _headers, body in self.accepted for raw in body.splitlines()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector():
    server = Collector()
    yield server
    server.close()


def settings_for(tmp_path, url, **extra):
    values = {"http_url": url, "http_auth_header": f"Authorization: {TOKEN}", "http_retries": "2",
              "http_timeout": "5"}
    values.update(extra)
    return make_settings(tmp_path, **values)


def uid_set(events) -> set:
    return {event["finding"]["uid"] for event in events}


def test_flush_posts_gzipped_ocsf_ndjson_with_the_auth_header(tmp_path, collector):
    settings = settings_for(tmp_path, collector.url)
    events = corpus_events()
    spool_events(settings, events)
    sink = HttpSink(settings, backoff=0.01)
    result = flush(settings, [sink])
    assert result.ok and result.events == len(events)
    headers, _body = collector.accepted[0]
    assert headers["Authorization"] == TOKEN
    assert headers["Content-Type"] == "application/x-ndjson"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["X-Wazuh-OCSF-Batch"].endswith("#0")
    # The events come back exactly as the mapper made them (nulls left out, unmapped an object).
    got = sorted(collector.events(), key=lambda e: e["finding"]["uid"])
    assert got == sorted(events, key=lambda e: e["finding"]["uid"])
    assert Spool(settings).sealed_segments() == []


def test_transient_errors_are_retried_with_the_same_batch(tmp_path, collector):
    settings = settings_for(tmp_path, collector.url)
    events = corpus_events()[:5]
    spool_events(settings, events)
    collector.script = [(500, 0), (429, 0), (200, 0)]
    result = flush(settings, [HttpSink(settings, backoff=0.01)])
    assert result.ok
    statuses = [status for _h, _b, status in collector.requests]
    assert statuses[:3] == [500, 429, 200] and set(statuses[3:]) <= {200}  # the events span several days
    first_three = collector.requests[:3]
    assert len({body for _h, body, _s in first_three}) == 1  # the very same batch each time
    assert len({h["X-Wazuh-OCSF-Batch"] for h, _b, _s in first_three}) == 1
    assert uid_set(collector.events()) == uid_set(events)


def test_401_fails_at_once_and_keeps_the_segment_without_leaking_the_token(tmp_path, collector):
    settings = settings_for(tmp_path, collector.url)
    spool_events(settings, corpus_events()[:3])
    collector.script = [(401, 0)]
    result = flush(settings, [HttpSink(settings, backoff=0.01)])
    assert not result.ok and result.left == 1
    assert len(collector.requests) == 1  # not retried
    [failure] = result.failures
    assert "HTTP 401" in failure and "WAZUH_OCSF_HTTP_AUTH_HEADER" in failure
    assert "secret-token" not in failure and "channel=abc" not in failure
    assert len(Spool(settings).sealed_segments()) == 1
    # The collector is fixed: the next flush delivers and releases the segment.
    result = flush(settings, [HttpSink(settings, backoff=0.01)])
    assert result.ok and result.segments == 1
    assert len(collector.events()) == 3


def test_connection_refused_is_retried_then_fails(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    settings = settings_for(tmp_path, f"http://127.0.0.1:{port}/ingest", http_retries="2")
    spool_events(settings, corpus_events()[:2])
    sink = HttpSink(settings, backoff=0.01)
    result = flush(settings, [sink])
    [failure] = result.failures
    assert "after 3 attempts: cannot connect" in failure
    assert len(Spool(settings).sealed_segments()) == 1


def test_a_slow_answer_beyond_the_timeout_is_retried(tmp_path, collector):
    settings = settings_for(tmp_path, collector.url, http_timeout="0.3")
    events = corpus_events()[:4]
    spool_events(settings, events)
    collector.script = [(200, 1.0)]  # answers, but too late: counts as failed
    result = flush(settings, [HttpSink(settings, backoff=0.01)])
    assert result.ok
    # the late answer was not taken as a success: the same batch was sent again
    first, second = collector.requests[:2]
    assert first[1] == second[1] and first[0]["X-Wazuh-OCSF-Batch"] == second[0]["X-Wazuh-OCSF-Batch"]
    assert uid_set(collector.events()) == uid_set(events)


def test_retries_are_bounded(tmp_path, collector):
    settings = settings_for(tmp_path, collector.url, http_retries="1")
    spool_events(settings, corpus_events()[:2])
    collector.script = [(503, 0)] * 5
    result = flush(settings, [HttpSink(settings, backoff=0.01)])
    assert len(collector.requests) == 2
    assert "after 2 attempts: HTTP 503" in result.failures[0]


def test_batches_respect_the_size_limit(tmp_path, collector):
    settings = settings_for(tmp_path, collector.url, http_batch_max_bytes="8k")
    events = corpus_events()
    spool_events(settings, events)
    assert flush(settings, [HttpSink(settings, backoff=0.01)]).ok
    sizes = [len(body) for _h, body in collector.accepted]
    assert len(sizes) > 3
    # every body holds whole lines and stays under the limit unless one event alone is larger
    for _h, body in collector.accepted:
        lines = body.splitlines()
        assert len(body) <= 8192 or len(lines) == 1
    assert uid_set(collector.events()) == uid_set(events)
    assert len(collector.events()) == len(events)


def test_with_two_sinks_the_segment_waits_for_both(tmp_path, collector):
    settings = settings_for(tmp_path, collector.url, output_dir=str(tmp_path / "lake"))
    spool_events(settings, corpus_events()[:6])
    sinks = build_sinks(settings)
    assert [type(s) for s in sinks] == [LocalSink, HttpSink]
    sinks[1].backoff = 0.01
    collector.script = [(500, 0)] * 3
    result = flush(settings, sinks)
    assert not result.ok
    [segment] = Spool(settings).sealed_segments()
    manifest = manifests.load(settings.spool_dir, segment.name)
    assert manifest.acknowledged == [sink_id(sinks[0])]  # the local copy is done, HTTP is not
    result = flush(settings, sinks)
    assert result.ok and result.segments == 1
    assert len(collector.events()) == 6


def test_https_against_a_plain_server_is_a_tls_failure_not_retried(tmp_path, collector):
    url = collector.url.replace("http://", "https://")
    settings = settings_for(tmp_path, url)
    spool_events(settings, corpus_events()[:1])
    result = flush(settings, [HttpSink(settings, backoff=0.01)])
    assert "TLS failure" in result.failures[0] and "WAZUH_OCSF_HTTP_CA_BUNDLE" in result.failures[0]
    assert collector.requests == [] or all(status != 200 for _h, _b, status in collector.requests)


def test_tls_settings(tmp_path):
    assert HttpSink(settings_for(tmp_path, "https://collector.example/ingest")).verify is True
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert HttpSink(settings_for(tmp_path, "https://c.example/", http_ca_bundle=str(bundle))).verify == str(bundle)
    assert HttpSink(settings_for(tmp_path, "https://c.example/", http_verify="false")).verify is False
    with pytest.raises(ConfigError, match=r"WAZUH_OCSF_HTTP_CA_BUNDLE: .*missing\.pem is not a file"):
        HttpSink(settings_for(tmp_path, "https://c.example/", http_ca_bundle=str(tmp_path / "missing.pem")))
    with pytest.raises(ConfigError, match="WAZUH_OCSF_HTTP_VERIFY"):
        settings_for(tmp_path, "https://c.example/", http_verify="maybe")
    with pytest.raises(ConfigError, match="WAZUH_OCSF_HTTP_URL: expected an http:// or https:// URL"):
        HttpSink(settings_for(tmp_path, "ftp://c.example/"))


def test_secrets_stay_out_of_descriptions_and_status(tmp_path):
    settings = settings_for(tmp_path, "https://user:pw@hec.example:8088/services/collector/raw?token=abc")
    sink = HttpSink(settings)
    assert sink.describe() == "http:https://hec.example:8088/services/collector/raw"
    assert settings.masked()["WAZUH_OCSF_HTTP_AUTH_HEADER"] == "****"
    assert public_url("http://h/p?x=1#frag") == "http://h/p"


def test_auth_header_forms():
    assert parse_auth_header("Authorization: Splunk abc") == {"Authorization": "Splunk abc"}
    assert parse_auth_header("X-API-Key: k3y") == {"X-API-Key": "k3y"}
    assert parse_auth_header("Bearer abc") == {"Authorization": "Bearer abc"}
    assert parse_auth_header(None) == {}


def test_a_failed_post_raises_sink_error(tmp_path, collector):
    settings = settings_for(tmp_path, collector.url, http_retries="0")
    collector.script = [(502, 0)]
    sink = HttpSink(settings, backoff=0.01)
    expected = r"Failed to POST obj#0 to http://127\.0\.0\.1:\d+/services/collector/raw after 1 attempts: HTTP 502"
    with pytest.raises(SinkError, match=expected):
        sink._post(b'{"a":1}\n', "obj#0")
