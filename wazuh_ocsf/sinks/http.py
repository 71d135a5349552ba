"""An HTTP collector as a sink: the same batches as gzipped OCSF NDJSON, POSTed.

For Splunk HEC (``/services/collector/raw``), Vector's or Cribl's HTTP sources, or any
webhook that takes newline-delimited JSON. Each Parquet object the flusher hands over is
read back into OCSF JSON events (nulls left out, ``unmapped`` as an object, exactly the
mapper's form) and sent as one or more requests of at most ``WAZUH_OCSF_HTTP_BATCH_MAX_BYTES``
uncompressed NDJSON::

    POST <WAZUH_OCSF_HTTP_URL>
    Content-Type: application/x-ndjson
    Content-Encoding: gzip
    <WAZUH_OCSF_HTTP_AUTH_HEADER>                  e.g. Authorization: Splunk <token>
    X-Wazuh-OCSF-Batch: <object name>#<n>          stable across retries, for de-duplication

A batch counts as stored only after a 2xx answer. Connection errors, timeouts, 408, 429 and
5xx are retried ``WAZUH_OCSF_HTTP_RETRIES`` times with exponential backoff (``Retry-After``
is honoured up to a minute); anything else (401, 403, 413, a TLS failure…) fails at once.
A failure raises SinkError and the flusher keeps the segment; the next flush sends the
segment's objects to this sink again, so a collector may receive a batch twice (HTTP has no
overwrite): de-duplicate on ``finding.uid`` (``finding_info.uid``) or the batch header.

TLS certificates are verified by default (``WAZUH_OCSF_HTTP_CA_BUNDLE`` names a private CA;
``WAZUH_OCSF_HTTP_VERIFY=false`` turns verification off, with a warning). The auth header is
a secret: it never appears in logs, errors or ``describe()``, and neither does a query string.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

import requests

from wazuh_ocsf import __version__
from wazuh_ocsf.config import Settings
from wazuh_ocsf.errors import ConfigError, SinkError
from wazuh_ocsf.sinks.base import ParquetObject, Sink

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))
MAX_RETRY_AFTER = 60.0
READ_ROWS = 2048
_AUTH_HINTS = {
    401: "the collector refused the credentials: check WAZUH_OCSF_HTTP_AUTH_HEADER",
    403: "the collector refused the credentials: check WAZUH_OCSF_HTTP_AUTH_HEADER",
    404: "no such endpoint: check WAZUH_OCSF_HTTP_URL",
    413: "request too large: lower WAZUH_OCSF_HTTP_BATCH_MAX_BYTES",
}


def parse_auth_header(value: str | None) -> dict:
    """``Name: value`` → ``{Name: value}``; a bare ``value`` is the ``Authorization`` header."""
    if not value:
        return {}
    if "\n" in value or "\r" in value:
        raise ConfigError("WAZUH_OCSF_HTTP_AUTH_HEADER", "expected one line: 'Name: value'")
    for position, char in enumerate(value):
        # HTTP sends header values as Latin-1; a control character would end or split the header.
        # (The character itself is part of a secret: only its position is told.)
        if ord(char) > 0xFF or (ord(char) < 0x20 and char != "\t") or char == "\x7f":
            what = "a control character" if ord(char) <= 0xFF else "not Latin-1"
            raise ConfigError(
                "WAZUH_OCSF_HTTP_AUTH_HEADER",
                f"character {position + 1} is {what}: a header holds only printable Latin-1 characters "
                "(encode the token as the collector expects, e.g. base64)",
            )
    name, sep, rest = value.partition(":")
    if sep and name.strip().isascii() and all(c.isalnum() or c == "-" for c in name.strip()) and rest.strip():
        return {name.strip(): rest.strip()}
    return {"Authorization": value.strip()}


def public_url(url: str) -> str:
    """The URL without credentials or query string (which may hold a token), for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _converter(arrow_type):
    """A function turning a ``to_pylist`` value of ``arrow_type`` into its OCSF JSON form."""
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        children = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
        fields = [(child.name, _converter(child.type)) for child in children]

        def struct(value):
            if value is None:
                return None
            out = {}
            for name, convert in fields:
                item = value.get(name)
                if item is not None:
                    item = convert(item)
                    if item is not None:
                        out[name] = item
            return out

        return struct
    if pa.types.is_map(arrow_type):
        return lambda value: None if value is None else dict(value)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        convert = _converter(arrow_type.value_type)
        return lambda value: None if value is None else [convert(item) for item in value]
    return lambda value: value


def read_events(path: str | os.PathLike) -> Iterator[dict]:
    """The OCSF events of a Parquet object, as JSON-ready dicts without nulls."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    convert = _converter(pa.struct(list(parquet.schema_arrow)))
    for batch in parquet.iter_batches(batch_size=READ_ROWS):
        for row in batch.to_pylist():
            yield convert(row)


class HttpSink(Sink):
    """POST every object's events as gzipped NDJSON to ``WAZUH_OCSF_HTTP_URL``."""

    name = "http"

    def __init__(self, settings: Settings, *, session: requests.Session | None = None, backoff: float = 1.0) -> None:
        url = settings.http_url
        if not url:
            raise ConfigError("WAZUH_OCSF_HTTP_URL", "required for the HTTP sink")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("WAZUH_OCSF_HTTP_URL", f"expected an http:// or https:// URL, got {public_url(url)!r}")
        self.url = url
        self.headers = {
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
            "User-Agent": f"wazuh-ocsf/{__version__}",
        }
        self.headers.update(parse_auth_header(settings.http_auth_header))
        if settings.http_ca_bundle:
            if not os.path.isfile(settings.http_ca_bundle):
                raise ConfigError("WAZUH_OCSF_HTTP_CA_BUNDLE", f"{settings.http_ca_bundle} is not a file")
            self.verify: bool | str = settings.http_ca_bundle
        else:
            self.verify = bool(settings.http_verify)
        if parts.scheme == "https" and self.verify is False:
            log.warning("TLS certificate verification of %s is OFF (WAZUH_OCSF_HTTP_VERIFY=false)", public_url(url))
        self.timeout = (settings.http_connect_timeout, settings.http_timeout)
        self.retries = settings.http_retries
        self.batch_max_bytes = settings.http_batch_max_bytes
        self.backoff = backoff
        self._session = session

    def describe(self) -> str:
        """``http:<scheme://host/path>`` (no credentials, no query string)."""
        return f"http:{public_url(self.url)}"

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def deliver(self, objects: Sequence[ParquetObject]) -> None:
        """POST every event of every object; return only when every request got a 2xx."""
        for obj in objects:
            for number, body in enumerate(self._bodies(obj)):
                self._post(body, f"{obj.name}#{number}")

    def _bodies(self, obj: ParquetObject) -> Iterator[bytes]:
        """The object's events as NDJSON bodies of at most ``batch_max_bytes`` (one event always fits)."""
        lines, size = [], 0
        try:
            for event in read_events(obj.path):
                data = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace") + b"\n"
                if lines and size + len(data) > self.batch_max_bytes:
                    yield b"".join(lines)
                    lines, size = [], 0
                lines.append(data)
                size += len(data)
        except (OSError, ValueError) as exc:  # pyarrow's errors are OSError/ValueError subclasses
            raise SinkError(f"Failed to read {obj.name} ({obj.path}) for {self.describe()}: {exc}") from None
        if lines:
            yield b"".join(lines)

    def _post(self, ndjson: bytes, batch: str) -> None:
        body = gzip.compress(ndjson, compresslevel=6)
        headers = dict(self.headers, **{"X-Wazuh-OCSF-Batch": batch})
        where = public_url(self.url)
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            delay = self.backoff * 2 ** (attempt - 1)
            try:
                response = self.session.post(
                    self.url, data=body, headers=headers, timeout=self.timeout, verify=self.verify
                )
            except requests.exceptions.SSLError as exc:
                raise SinkError(
                    f"Failed to POST {batch} to {where}: TLS failure ({_short(exc)}); set WAZUH_OCSF_HTTP_CA_BUNDLE "
                    "to the collector's CA, or fix its certificate"
                ) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if isinstance(exc, requests.exceptions.ConnectTimeout):
                    reason = f"no connection within {self.timeout[0]:g}s ({_short(exc)})"
                elif isinstance(exc, requests.exceptions.Timeout):
                    reason = f"no answer within {self.timeout[1]:g}s ({_short(exc)})"
                else:
                    reason = f"cannot connect ({_short(exc)})"
            except requests.exceptions.RequestException as exc:
                raise SinkError(f"Failed to POST {batch} to {where}: {_short(exc)}") from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    log.debug("POSTed %s to %s: %d (%d bytes gzipped)", batch, where, status, len(body))
                    return
                text = response.text[:200].strip()
                reason = f"HTTP {status} {response.reason or ''}".strip() + (f": {text}" if text else "")
                if status not in RETRY_STATUSES:
                    hint = _AUTH_HINTS.get(status)
                    raise SinkError(f"Failed to POST {batch} to {where}: {reason}" + (f" ({hint})" if hint else ""))
                delay = max(delay, _retry_after(response))
            if attempt == attempts:
                raise SinkError(f"Failed to POST {batch} to {where} after {attempts} attempts: {reason}")
            log.warning(
                "POST of %s to %s failed (attempt %d of %d): %s; retrying in %.1fs",
                batch,
                where,
                attempt,
                attempts,
                reason,
                delay,
            )
            time.sleep(delay)


def _retry_after(response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return 0.0  # an HTTP date: the exponential backoff will do


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "…"
