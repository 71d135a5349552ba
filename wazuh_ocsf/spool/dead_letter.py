"""The dead-letter directory: whatever could not become a spool event is kept here, not lost.

``<spool dir>/dead-letter/<node>-<YYYYMMDD>.ndjson`` holds one JSON object per rejected item::

    {"time": "2024-04-22T14:20:46.976Z", "reason": "...", "source": "/tmp/custom-...alert",
     "node": "manager-1", "data_b64": "<the original bytes, base64>"}

The hook records alerts it cannot read or map; the flusher records spool lines it cannot decode
(a torn line left by a killed writer, for instance). An operator reads them with
:func:`iter_records` (or ``jq``/``base64 -d``), fixes the cause and replays the data.

Each record is one ``os.write`` on an ``O_APPEND`` descriptor, so concurrent writers never
interleave. The hook imports this module: standard library only (``binascii``, not ``base64``).
"""

from __future__ import annotations

import binascii
import os
import time

from wazuh_ocsf import json_codec
from wazuh_ocsf.errors import SpoolError
from wazuh_ocsf.spool.store import DEAD_LETTER, count_lines, node_token

SUFFIX = ".ndjson"


def _iso_now() -> str:
    now = time.time()
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now))}.{int(now * 1000) % 1000:03d}Z"


def path_for(spool_dir: str, node: str, when: float | None = None) -> str:
    """The dead-letter file records of ``node`` go to at time ``when`` (default: now)."""
    day = time.strftime("%Y%m%d", time.gmtime(time.time() if when is None else when))
    return os.path.join(spool_dir, DEAD_LETTER, f"{node_token(node)}-{day}{SUFFIX}")


def record(spool_dir: str, *, reason: str, source: str, data: bytes, node: str) -> str:
    """Keep ``data`` (the original bytes) with why and where it came from; the file written.

    Raises SpoolError if the spool directory is missing or the record cannot be written.
    """
    line = json_codec.dumps(
        {
            "time": _iso_now(),
            "reason": reason,
            "source": source,
            "node": node,
            "data_b64": binascii.b2a_base64(bytes(data), newline=False).decode("ascii"),
        }
    ).encode("utf-8", "replace") + b"\n"
    path = path_for(spool_dir, node)
    directory = os.path.dirname(path)
    try:
        try:  # noqa: SIM105 -- contextlib is an import the hook need not pay for
            os.mkdir(directory, 0o750)
        except FileExistsError:
            pass
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            written = os.write(fd, line)
            if written != len(line):
                # End the partial record so the next one starts on its own line (best effort).
                try:  # noqa: SIM105
                    os.write(fd, b"\n")
                except OSError:
                    pass
                raise OSError(28, f"short write ({written} of {len(line)} bytes): disk full?")
        finally:
            os.close(fd)
    except OSError as exc:
        raise SpoolError(f"cannot write the dead-letter record {path}: {exc.strerror or exc}") from None
    return path


def files(spool_dir: str) -> list:
    """Dead-letter files of every node, oldest day first."""
    directory = os.path.join(spool_dir, DEAD_LETTER)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    names = [n for n in names if n.endswith(SUFFIX) and not n.startswith(".")]
    names.sort(key=lambda n: (n[-len(SUFFIX) - 8 : -len(SUFFIX)], n))
    return [os.path.join(directory, n) for n in names]


def iter_records(spool_dir: str):
    """Yield every dead-letter record as a dict with ``data`` (the original bytes) decoded.

    Keys: ``time``, ``reason``, ``source``, ``node``, ``data``, ``file``, ``line`` (1-based).
    A record that itself cannot be decoded (torn by a crash) is yielded with reason
    ``"unreadable dead-letter record"`` and its raw bytes as ``data``, so nothing disappears.
    """
    for path in files(spool_dir):
        yield from iter_file_records(path)


def iter_file_records(path: str):
    """Yield the records of one dead-letter file, as :func:`iter_records` does."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            yield parse_record(raw, path, number)


def parse_record(raw: bytes, path: str, number: int) -> dict:
    """One line of a dead-letter file → its record, as :func:`iter_records` yields it."""
    try:
        item = json_codec.loads(raw)
        if not isinstance(item, dict):
            raise ValueError("not an object")
        data = binascii.a2b_base64(item.pop("data_b64"))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, binascii.Error):
        item = {"time": None, "reason": "unreadable dead-letter record", "source": path, "node": None}
        data = raw.rstrip(b"\n")
    item["data"] = data
    item["file"] = path
    item["line"] = number
    return item


def count(spool_dir: str) -> int:
    """How many records the dead-letter directory holds (lines of all its files)."""
    return sum(count_lines(path) for path in files(spool_dir))
