"""Dead letters after a fix: list them, and replay them into the spool.

A record is an alert the hook kept (re-mapped now, with today's settings and mapper) or a
spool line the flusher kept (re-checked against the Arrow schema, then spooled as it is).
A record leaves the dead-letter directory only once it is in the spool; a record that still
fails stays, with the new reason.

Hooks append to the day's dead-letter file at any time, so a file is never rewritten where
it lies: it is first renamed to a private name (still a ``.ndjson`` file of the dead-letter
directory, so a crash hides nothing), left alone for :data:`SETTLE_SECONDS` so that a hook
that opened it just before finishes its one ``write``, then read. What still fails is
appended to the file's original name (recreated by hooks, or made anew) and the private file
is removed. A crash between two steps repeats a record (in the spool or in the dead letters),
never loses one.
"""

from __future__ import annotations

import binascii
import json
import logging
import os
import time
from dataclasses import dataclass, field

from wazuh_ocsf.durable import append_durably
from wazuh_ocsf.errors import AlertError, SpoolError
from wazuh_ocsf.spool import dead_letter
from wazuh_ocsf.spool.store import ExclusiveLock, Spool

log = logging.getLogger(__name__)

SETTLE_SECONDS = 0.5
REPLAY_LOCK = ".replay.lock"
_PRIVATE_MARK = "~replaying"
ALERT, SPOOL_LINE, UNREADABLE = "alert", "spool line", "unreadable"


def kind_of(data: bytes) -> str:
    """What a kept record holds: a Wazuh ``alert``, an OCSF ``spool line``, or ``unreadable`` bytes."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to decode
        return UNREADABLE
    if isinstance(value, dict) and "class_uid" in value and "metadata" in value:
        return SPOOL_LINE
    return ALERT if isinstance(value, dict) else UNREADABLE


def list_records(spool_dir: str) -> list:
    """Every dead-letter record without its bytes: time, reason, source, node, size, kind, file, line."""
    out = []
    for item in dead_letter.iter_records(spool_dir):
        item["id"] = record_id(item)
        data = item.pop("data")
        item["size"] = len(data)
        item["kind"] = kind_of(data)
        out.append(item)
    return out


@dataclass
class ReplayResult:
    """What a replay did: records spooled, records still failing (with why), records left untried."""

    replayed: int = 0
    still_failing: list = field(default_factory=list)  # [(file:line, reason)]
    untried: int = 0  # left as they were (the spool refused, or dry run)
    stopped: str | None = None  # why the replay stopped early

    @property
    def ok(self) -> bool:
        return not self.still_failing and not self.untried

    def to_dict(self) -> dict:
        return {
            "replayed": self.replayed,
            "still_failing": [{"record": r, "reason": why} for r, why in self.still_failing],
            "untried": self.untried,
            "stopped": self.stopped,
        }


class _Replayer:
    """Turns one kept record into a spool line (or says why it cannot)."""

    def __init__(self, settings, class_uid: int, routes: tuple | None = None) -> None:
        self.settings = settings
        self.class_uid = class_uid
        self.routes = routes  # auto: the active routed classes (see mapping.routing)

    def line_for(self, data: bytes) -> bytes:
        """The spool line for a record; raises ValueError/AlertError saying why there is none."""
        from wazuh_ocsf.mapping import load_alert, map_alert
        from wazuh_ocsf.spool.line import encode_event

        kind = kind_of(data)
        if kind == SPOOL_LINE:
            return self._checked_spool_line(data)
        if not data.strip():
            raise AlertError("the record holds no bytes (the alert file could not be read)")
        alert = load_alert(data)
        class_uid = self.class_uid
        if self.routes:
            from wazuh_ocsf.mapping.routing import route

            class_uid = route(alert, class_uid, self.routes)
        event = map_alert(
            alert,
            class_uid=class_uid,
            product_version=self.settings.product_version,
            attack_version=self.settings.attack_version,
        )
        return encode_event(event)

    @staticmethod
    def _checked_spool_line(data: bytes) -> bytes:
        from wazuh_ocsf.flush.convert import convert_block

        line = data.rstrip(b"\n") + b"\n"
        converted = convert_block(line)
        if converted.bad:
            raise ValueError(f"still does not convert: {converted.bad[0].reason}")
        return line


def _private_name(path: str) -> str:
    """``<node>-<day>.ndjson`` → ``<node>~replaying<pid>-<day>.ndjson`` (day stays last, as files() sorts)."""
    directory, name = os.path.split(path)
    stem = name[: -len(dead_letter.SUFFIX)]
    head, _, day = stem.rpartition("-")
    head = head.split(_PRIVATE_MARK)[0]
    return os.path.join(directory, f"{head}{_PRIVATE_MARK}{os.getpid()}-{day}{dead_letter.SUFFIX}")


def _may_be_open(path: str) -> bool:
    """Whether a writer may hold ``path`` open: only the current UTC day's files are written to."""
    day = path[-len(dead_letter.SUFFIX) - 8 : -len(dead_letter.SUFFIX)]
    yesterday = time.strftime("%Y%m%d", time.gmtime(time.time() - 86400))
    return not day.isdigit() or day >= yesterday


def _original_name(private: str) -> str:
    directory, name = os.path.split(private)
    if _PRIVATE_MARK not in name:
        return private
    head, _, rest = name.partition(_PRIVATE_MARK)
    return os.path.join(directory, head + "-" + rest.partition("-")[2])


def _append_records(path: str, records: list) -> None:
    """Append whole records (one ``os.write`` each, like ``dead_letter.record``) and force them to disk."""
    append_durably(path, [_encode(item) for item in records])


def _encode(item: dict) -> bytes:
    record = {k: item[k] for k in ("time", "reason", "source", "node") if k in item}
    record["data_b64"] = binascii.b2a_base64(bytes(item["data"]), newline=False).decode("ascii")
    extra = {k: item[k] for k in ("replayed_at", "first_reason") if k in item}
    record.update(extra)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace") + b"\n"


def _read(path: str) -> list:
    """The records of one file, with their bytes; none if it is gone."""
    try:
        return list(dead_letter.iter_file_records(path))
    except FileNotFoundError:
        return []


def replay(settings, *, class_uid: int | None = None, dry_run: bool = False, settle: float = SETTLE_SECONDS):
    """Replay every dead-letter record into the spool; a :class:`ReplayResult`.

    ``class_uid`` is the OCSF class kept alerts are mapped to (default: the configured one,
    routed per alert when it is ``auto``).
    ``dry_run`` tries every record and changes nothing. Raises SpoolBusyError when another
    replay runs, SpoolError when the spool cannot be used at all.
    """
    spool_dir = settings.spool_dir
    spool = Spool(settings)
    routes = settings.active_routes() if class_uid is None and settings.routing else None
    replayer = _Replayer(settings, class_uid or settings.ocsf_class, routes)
    result = ReplayResult()
    if not os.path.isdir(spool_dir):
        raise spool._missing()
    lock_path = os.path.join(spool_dir, REPLAY_LOCK)
    with ExclusiveLock(lock_path, what="the replay lock", busy=f"another dead-letter replay holds {lock_path}"):
        try:
            for path in dead_letter.files(spool_dir):
                if dry_run:
                    _try_file(path, replayer, None, result)
                    continue
                private = _take(path, settle)
                if private is not None:
                    _replay_file(private, _original_name(private), replayer, spool, result)
        except OSError as exc:
            raise SpoolError(
                f"cannot replay the dead letters of {spool_dir}: {exc.strerror or exc} ({exc.filename}); "
                "everything in the spool must belong to its owner (see `wazuh-ocsf doctor`)"
            ) from None
    log.info(
        "dead-letter replay: %d replayed, %d still failing, %d untried%s",
        result.replayed,
        len(result.still_failing),
        result.untried,
        f" ({result.stopped})" if result.stopped else "",
    )
    return result


def _try_file(path: str, replayer: _Replayer, spool, result: ReplayResult) -> list:
    """Try each record of ``path``; spool it unless ``spool`` is None; the records that stay."""
    return _try_records(_read(path), replayer, spool, result)


def _try_records(records: list, replayer: _Replayer, spool, result: ReplayResult) -> list:
    """Try each record; spool it unless ``spool`` is None; the records that stay. Never raises
    for a record: whatever the mapper raises, the record stays with the reason."""
    keep = []
    for item in records:
        path = item["file"]
        where = f"{os.path.basename(_original_name(path))}:{item['line']}"
        if result.stopped:
            keep.append(item)
            result.untried += 1
            continue
        try:
            line = replayer.line_for(item["data"])
        except Exception as exc:  # a record that breaks the mapper stays, as the hook keeps it
            if isinstance(exc, (AlertError, ValueError)):
                reason = f"replay: {exc}"
            elif isinstance(exc, RecursionError):
                reason = "replay: nested too deeply to decode"
            else:
                reason = f"replay: unexpected {type(exc).__name__}: {exc}"
            result.still_failing.append((where, reason))
            if item.get("reason") != reason:
                item.setdefault("first_reason", item.get("reason"))
            item["reason"] = reason
            item["replayed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            keep.append(item)
            continue
        if spool is None:
            result.replayed += 1
            continue
        try:
            spool.append(line)
        except SpoolError as exc:  # full or unwritable: stop here, keep the rest untouched
            result.stopped = f"the spool refused a record: {exc}"
            result.untried += 1
            keep.append(item)
            continue
        result.replayed += 1
    return keep


def _take(path: str, settle: float) -> str | None:
    """Rename a dead-letter file to its private name and let a late writer finish; None if it is gone."""
    private = _private_name(path)
    try:
        os.rename(path, private)
    except FileNotFoundError:
        return None
    if _may_be_open(path):
        time.sleep(settle)  # a hook that opened the file just before the rename finishes its write
    return private


def _rewrite(private: str, original: str, kept) -> None:
    """Put back what stays of a private file: ``kept(records)`` of the whole records one read
    found, then whatever followed them byte for byte; remove the private file.

    The records are exactly the bytes up to the last newline of one read: a hook that wrote to
    the file after that (rare: see SETTLE_SECONDS), or a record cut short, is copied back to the
    original name as it is, never lost and never handled twice.
    """
    with open(private, "rb") as handle:
        data = handle.read()
        consumed = data.rfind(b"\n") + 1
        records = [
            dead_letter.parse_record(raw, private, number)
            for number, raw in enumerate(data[:consumed].split(b"\n")[:-1], 1)
        ]
        keep = kept(records)
        if keep:
            _append_records(original, keep)
        rest = data[consumed:] + handle.read()  # the handle stands at the end of what was read
    if rest:
        append_durably(original, [rest if rest.endswith(b"\n") else rest + b"\n"])
    os.unlink(private)


def _replay_file(private: str, original: str, replayer: _Replayer, spool: Spool, result: ReplayResult) -> None:
    """Replay the whole records the private file holds now; the rest goes back (:func:`_rewrite`)."""
    _rewrite(private, original, lambda records: _try_records(records, replayer, spool, result))


def record_id(item: dict) -> str:
    """A record's id for ``dead-letter list`` and ``discard --id``: 12 hex digits of a hash of its
    time, source and bytes (stable across replays and discards, which move records between lines)."""
    import hashlib

    digest = hashlib.sha256(f"{item.get('time')}\0{item.get('source')}\0".encode("utf-8", "replace"))
    digest.update(bytes(item["data"]))
    return digest.hexdigest()[:12]


def record_age(item: dict, now: float) -> float | None:
    """Seconds since a record was kept (None when its time cannot be read: an unreadable record)."""
    import calendar

    stamp = item.get("time")
    if not isinstance(stamp, str):
        return None
    try:
        moment = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return now - moment


def discard(spool_dir: str, select, *, dry_run: bool = False, settle: float = SETTLE_SECONDS) -> list:
    """Remove the dead-letter records ``select(item)`` is true for; the removed records (without bytes).

    The same file handling as :func:`replay` (private name, settle, rewrite what stays), under
    the same lock, so a hook writing meanwhile loses nothing. ``dry_run`` changes nothing.
    Raises SpoolBusyError when a replay or another discard runs.
    """
    removed = []
    if not os.path.isdir(spool_dir):
        raise SpoolError(f"spool directory {spool_dir} does not exist")
    lock_path = os.path.join(spool_dir, REPLAY_LOCK)
    with ExclusiveLock(lock_path, what="the replay lock", busy=f"a dead-letter replay or discard holds {lock_path}"):
        try:
            for path in dead_letter.files(spool_dir):
                chosen = [item for item in _read(path) if select(item)]
                if dry_run or not chosen:
                    removed += chosen
                    continue
                private = _take(path, settle)
                if private is not None:
                    removed += _discard_file(private, _original_name(private), select)
        except OSError as exc:
            raise SpoolError(
                f"cannot discard dead letters of {spool_dir}: {exc.strerror or exc} ({exc.filename}); "
                "everything in the spool must belong to its owner (see `wazuh-ocsf doctor`)"
            ) from None
    for item in removed:
        item["id"] = record_id(item)
        item["size"] = len(item.pop("data"))
    return removed


def _discard_file(private: str, original: str, select) -> list:
    chosen = []

    def kept(records: list) -> list:
        chosen.extend(item for item in records if select(item))
        return [item for item in records if not select(item)]

    _rewrite(private, original, kept)
    for item in chosen:
        log.info(
            "discarded dead letter %s (%s, %s): %s", record_id(item), item.get("time"), item.get("source"),
            item.get("reason"),
        )
    return chosen
