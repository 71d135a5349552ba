"""One reader over the manager's alerts: ``logs/alerts/alerts.json`` and its daily archives.

wazuh-analysisd writes every alert as one JSON line to the day's file
``logs/alerts/<YYYY>/<Mon>/ossec-alerts-<DD>.json`` (``-<NNN>`` is added when the manager
rotates by size during the day) and keeps ``logs/alerts/alerts.json`` as a *hard link* to the
file it currently writes. After the day changes, wazuh-monitord gzips the previous day's
files (``….json.gz``, written beside the plain file, which is then deleted). Days and month
names are the manager's local time; ``Mon`` is ``Jan`` … ``Dec`` (``Sept`` from old OSSEC
releases is accepted too).

:class:`AlertsReader` yields ``(data, file, offset)`` for every alert whose ``timestamp``
falls in ``[since, until)``, file by file in time order, where ``data`` is the line without
its newline, ``file`` the :class:`AlertsFile` it came from and ``offset`` the line's byte
offset in the uncompressed file (the same whether the file is still plain or gzipped since).

* The live file is the same inode as the day's archive: files are deduplicated by
  ``(device, inode)``, so its bytes are read once.
* A line that is not a JSON object with a usable ``timestamp`` is handed to ``on_bad`` (the
  callers put it in the dead-letter directory) with its file and offset; so is the torn
  last line of a finished file. The unfinished last line of the *live* file is not: the
  manager is still writing it, so reading stops before it (see :attr:`ReadStats.pending_tail`).
* A file that vanished or cannot be read or decompressed is logged, counted in
  :attr:`ReadStats.skipped_files` and skipped; the lines read before the damage are kept.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

from wazuh_ocsf.mapping.timestamps import parse_timestamp

log = logging.getLogger(__name__)

ALERTS_RELPATH = os.path.join("logs", "alerts")
LIVE_NAME = "alerts.json"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name: number for number, name in enumerate(MONTHS, 1)}
_MONTH_NUMBERS["Sept"] = 9
_ARCHIVE = re.compile(r"ossec-alerts-([0-9]{2})(?:-([0-9]{3}))?\.json(\.gz)?\Z")
# Wazuh writes "timestamp" first; anything else falls back to a full parse.
_LEADING_TIMESTAMP = re.compile(rb'\{\s*"timestamp"\s*:\s*"([^"\\]{10,40})"')
_READ_SIZE = 1 << 20

#: ``on_bad(reason, file, offset, data)``
BadLineHandler = Callable[[str, "AlertsFile", int, bytes], None]


class AlertsFile:
    """One alerts file: an archive (plain or gzipped) or the live ``alerts.json``.

    ``label`` names it independently of compression (``2024/Apr/ossec-alerts-22``,
    ``2024/Apr/ossec-alerts-22-001``, or ``alerts.json`` for a live file that is not linked
    to any archive), so a position recorded while it was plain still applies once gzipped.
    """

    __slots__ = ("compressed", "counter", "day", "dev", "ino", "label", "live", "month", "path", "size", "year")

    def __init__(self, path: str, *, year: int, month: int, day: int, counter: int, compressed: bool, label: str):
        self.path = path
        self.year, self.month, self.day, self.counter = year, month, day, counter
        self.compressed = compressed
        self.label = label
        self.live = False
        self.dev = self.ino = None
        self.size = 0

    @property
    def sort_key(self) -> tuple:
        """Time order: day, then the day's base file before its ``-001``, ``-002`` parts."""
        return (self.year, self.month, self.day, self.counter)

    @property
    def date(self):
        """The manager-local day the file holds (None for an unlinked live file)."""
        from datetime import date

        return date(self.year, self.month, self.day) if self.year else None

    def open(self):
        """A binary file object of the uncompressed content (the caller closes it).

        A plain archive that was gzipped meanwhile is opened as ``<path>.gz``.
        """
        path = self.path
        if not self.compressed:
            try:
                return open(path, "rb")
            except FileNotFoundError:
                if self.live or not os.path.exists(path + ".gz"):
                    raise
                self.path, self.compressed = path + ".gz", True
        return gzip.open(self.path, "rb")

    def __repr__(self) -> str:
        return f"AlertsFile({self.path!r}{', live' if self.live else ''})"


def archive_files(alerts_dir: str) -> list:
    """Every archive below ``alerts_dir`` and the live file, deduplicated, in time order.

    Where a day's file exists both plain and gzipped (monitord is compressing it), the plain
    one is kept: it is complete, the ``.gz`` may not be yet. The live file is marked
    ``live`` on the archive it is linked to, or listed last when it is linked to none.
    """
    found: dict = {}
    try:
        years = sorted(name for name in os.listdir(alerts_dir) if name.isdigit() and len(name) == 4)
    except FileNotFoundError:
        years = []
    for year in years:
        year_dir = os.path.join(alerts_dir, year)
        try:
            months = [name for name in os.listdir(year_dir) if name in _MONTH_NUMBERS]
        except (NotADirectoryError, PermissionError) as exc:
            log.warning("cannot list %s: %s", year_dir, exc)
            continue
        for month in months:
            month_dir = os.path.join(year_dir, month)
            try:
                names = os.listdir(month_dir)
            except OSError as exc:
                log.warning("cannot list %s: %s", month_dir, exc)
                continue
            for name in names:
                match = _ARCHIVE.match(name)
                if match is None:
                    continue
                day, counter, gz = match.groups()
                label = f"{year}/{month}/{name[: name.index('.json')]}"
                item = AlertsFile(
                    os.path.join(month_dir, name),
                    year=int(year),
                    month=_MONTH_NUMBERS[month],
                    day=int(day),
                    counter=int(counter) if counter else -1,
                    compressed=bool(gz),
                    label=label,
                )
                if label not in found or found[label].compressed:
                    found[label] = item
    files = sorted(found.values(), key=lambda f: (f.sort_key, f.label))
    for item in files:
        try:
            status = os.stat(item.path)
        except OSError:
            continue  # reported when it is read
        item.dev, item.ino, item.size = status.st_dev, status.st_ino, status.st_size
    live_path = os.path.join(alerts_dir, LIVE_NAME)
    try:
        status = os.stat(live_path)
    except FileNotFoundError:
        return files
    except OSError as exc:
        log.warning("cannot stat %s: %s", live_path, exc)
        return files
    for item in files:
        if (item.dev, item.ino) == (status.st_dev, status.st_ino):
            item.live = True
            return files
    live = AlertsFile(live_path, year=0, month=0, day=0, counter=0, compressed=False, label=LIVE_NAME)
    live.live = True
    live.dev, live.ino, live.size = status.st_dev, status.st_ino, status.st_size
    files.append(live)
    return files


def alert_time_ms(data: bytes) -> int:
    """The epoch milliseconds of an alert line's ``timestamp``.

    Raises ValueError saying why when the line is not a JSON object with a usable timestamp.
    """
    match = _LEADING_TIMESTAMP.match(data)
    # A cut-off line rarely ends in "}": those get the full parse below and are rejected. A
    # damaged line that still ends in "}" is caught by the mapper's decode (also dead-lettered).
    if match is not None and data.rstrip().endswith(b"}"):
        try:
            return parse_timestamp(match.group(1).decode("ascii"))[0]
        except (UnicodeDecodeError, ValueError):
            pass  # let the full parse below say what is wrong
    try:
        alert = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError("nested too deeply to decode") from None
    if not isinstance(alert, dict):
        raise ValueError(f"not a JSON object (a JSON {type(alert).__name__})")
    if "timestamp" not in alert:
        raise ValueError("no timestamp")
    return parse_timestamp(alert["timestamp"])[0]  # AlertError is a ValueError


def _epoch_ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


class ReadStats:
    """What a read did: counts for the summary, and the files it had to skip."""

    def __init__(self) -> None:
        self.files_read = 0
        self.skipped_files: list = []  # [(path, reason)]
        self.missing_days: list = []  # [date] inside the range without any archive
        self.alerts = 0  # lines yielded
        self.out_of_range = 0
        self.bad_lines = 0
        self.pending_tail = 0  # bytes of the live file's unfinished last line, left for later
        self.bytes_done = 0  # on-disk bytes of the files (or parts) read, for progress


class AlertsReader:
    """Read every alert of ``[since, until)`` (UTC; None = unbounded) below ``alerts_dir``.

    ``start`` = ``(label, offset)`` resumes inside the file of that label (earlier files are
    skipped, that one is read from ``offset``). ``on_bad(reason, file, offset, data)``
    receives bad lines; without it they are only logged and counted.
    """

    def __init__(
        self,
        alerts_dir: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        on_bad: BadLineHandler | None = None,
        start: tuple | None = None,
    ) -> None:
        self.alerts_dir = alerts_dir
        self.since, self.until = since, until
        self.since_ms, self.until_ms = _epoch_ms(since), _epoch_ms(until)
        self.on_bad = on_bad
        self.start = start
        self.stats = ReadStats()
        self._files: list | None = None

    # -- which files -----------------------------------------------------------------------------

    def files(self) -> list:
        """The files this read covers, in order (listed once, on first use)."""
        if self._files is None:
            self._files = self._select(archive_files(self.alerts_dir))
        return self._files

    def total_bytes(self) -> int:
        """On-disk bytes of every file to read (the denominator of a progress bar)."""
        return sum(item.size for item in self.files())

    def _select(self, files: list) -> list:
        # Days in the names are the manager's local time: keep a day either side of the
        # range (UTC offsets reach ±14 h); each alert's own timestamp decides exactly.
        first = self.since.astimezone(timezone.utc).date() - timedelta(days=1) if self.since else None
        last = self.until.astimezone(timezone.utc).date() + timedelta(days=1) if self.until else None
        chosen = []
        for item in files:
            day = item.date
            if day is not None and ((first and day < first) or (last and day > last)):
                continue
            chosen.append(item)
        if self.start is not None:
            label = self.start[0]
            keys = [item.label for item in chosen]
            if label in keys:
                chosen = chosen[keys.index(label) :]
            else:
                log.warning("the resume point's file %s is gone; reading the whole range again", label)
                self.start = None
        self._find_missing_days(files)
        return chosen

    def _find_missing_days(self, files: list) -> None:
        """Days of the range, before today, without any archive: logged and counted."""
        if not self.since:
            return
        days = {item.date for item in files if item.date is not None}
        day = self.since.astimezone(timezone.utc).date()
        until = self.until - timedelta(milliseconds=1) if self.until else datetime.now(timezone.utc)
        end = until.astimezone(timezone.utc).date()
        today = datetime.now().date()
        while day <= end and day < today:
            if day not in days:
                self.stats.missing_days.append(day)
                log.warning(
                    "no alerts archive for %s in %s (deleted, moved, or the manager wrote no alert that day)",
                    day.isoformat(),
                    self.alerts_dir,
                )
            day += timedelta(days=1)

    # -- reading --------------------------------------------------------------------------------

    def __iter__(self) -> Iterator:
        """Yield ``(data, file, offset)`` for every alert of the range, in file order."""
        for item in self.files():
            offset = 0
            if self.start is not None and self.start[0] == item.label:
                offset = int(self.start[1])
            yield from self._read_file(item, offset)

    def _read_file(self, item: AlertsFile, offset: int) -> Iterator:
        stats = self.stats
        try:
            handle = item.open()
        except OSError as exc:
            self._skip(item, f"cannot open it: {exc.strerror or exc}")
            return
        raw = handle.fileobj if isinstance(handle, gzip.GzipFile) else handle
        done_before = stats.bytes_done
        try:
            if offset:
                handle.seek(offset)  # a gzip file decompresses and discards up to there
            since_ms, until_ms = self.since_ms, self.until_ms
            position = offset
            tail = b""
            while True:
                try:
                    chunk = handle.read(_READ_SIZE)
                except (OSError, EOFError, zlib.error) as exc:
                    self._skip(item, f"damaged after {position + len(tail)} uncompressed bytes: {exc}")
                    if tail:
                        self._bad("torn last line of a damaged file", item, position, tail)
                    return
                if not chunk:
                    break
                data = tail + chunk if tail else chunk
                end = data.rfind(b"\n") + 1
                tail = data[end:]
                start = 0
                while start < end:
                    newline = data.index(b"\n", start)
                    line = data[start:newline]
                    line_offset = position + start
                    start = newline + 1
                    if not line.strip():
                        continue
                    try:
                        moment = alert_time_ms(line)
                    except ValueError as exc:
                        self._bad(f"not an alert: {exc}", item, line_offset, line)
                        continue
                    if (since_ms is not None and moment < since_ms) or (until_ms is not None and moment >= until_ms):
                        stats.out_of_range += 1
                        continue
                    stats.alerts += 1
                    yield line, item, line_offset
                position += end
                stats.bytes_done = done_before + (raw.tell() if raw is not None else position)
            if tail:
                if item.live and not item.compressed:
                    stats.pending_tail = len(tail)
                else:
                    yield from self._finish_tail(item, position, tail)
            stats.files_read += 1
        finally:
            handle.close()
            stats.bytes_done = done_before + item.size

    def _finish_tail(self, item: AlertsFile, position: int, tail: bytes) -> Iterator:
        """The last line of a finished file has no newline: keep it if it is a whole alert."""
        try:
            moment = alert_time_ms(tail)
        except ValueError as exc:
            self._bad(f"torn last line (no newline at the end of the file): {exc}", item, position, tail)
            return
        if (self.since_ms is not None and moment < self.since_ms) or (
            self.until_ms is not None and moment >= self.until_ms
        ):
            self.stats.out_of_range += 1
            return
        self.stats.alerts += 1
        yield tail, item, position

    def _bad(self, reason: str, item: AlertsFile, offset: int, data: bytes) -> None:
        self.stats.bad_lines += 1
        log.warning("%s:%d: %s", item.path, offset, reason)
        if self.on_bad is not None:
            self.on_bad(reason, item, offset, data)

    def _skip(self, item: AlertsFile, reason: str) -> None:
        log.error("skipping alerts file %s: %s", item.path, reason)
        self.stats.skipped_files.append((item.path, reason))


def alerts_dir_of(wazuh_home: str) -> str:
    """``<wazuh home>/logs/alerts``."""
    return os.path.join(wazuh_home, ALERTS_RELPATH)


def wazuh5_hint(alerts_dir: str) -> str:
    """The message for a manager without ``alerts.json`` (Wazuh 5.x removed it)."""
    return (
        f"{alerts_dir}/{LIVE_NAME} does not exist: is this a Wazuh 4.x manager with <jsonout_output>yes"
        "</jsonout_output>? Wazuh 5.x removed alerts.json and integratord; wazuh-ocsf cannot read its alerts"
    )

