"""Alert lines → spool lines in bulk, for ``follow`` and ``backfill``, in parallel where it pays.

The hook maps one alert per process; ``follow`` and ``backfill`` map blocks of alert lines
with the same mapper, the same settings (class, product and ATT&CK versions) and, for
``follow``, the same filters the ``ossec.conf`` ``<integration>`` block applies
(:class:`AlertFilter`). Mapping costs several times what decoding costs, so
:class:`MappingPool` spreads blocks over worker processes (``WAZUH_OCSF_FOLLOW_WORKERS``)
and hands results back in submission order; the caller alone touches the spool, so the
order of lines and the saved positions stay simple.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor

from wazuh_ocsf import fast_json
from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping import map_alert
from wazuh_ocsf.mapping.routing import route
from wazuh_ocsf.spool.line import encode_event

_ATOI = re.compile(r"\s*([+-]?[0-9]+)")


def _atoi(value: object) -> int | None:
    """C's ``atoi`` on ``rule.id`` as integratord does it (``"5710"`` → 5710); None if no digits."""
    if type(value) is int:
        return value
    if not isinstance(value, str):
        return None
    match = _ATOI.match(value)
    return int(match.group(1)) if match else None


class AlertFilter:
    """integratord's ``<level>``, ``<group>`` and ``<rule_id>`` tests, with its exact semantics.

    * level: ``rule.level`` must be a number ≥ the setting (a level of 0 filters nothing);
    * group: one of ``rule.groups`` must equal (whole string, case-sensitive) one of the
      comma-separated groups;
    * rule_id: ``rule.id`` read as an integer (C ``atoi``) must be one of the listed ids.

    An alert without the field a set filter needs does not pass, as in integratord.
    """

    __slots__ = ("groups", "level", "rule_ids")

    def __init__(self, *, level: int | None = None, groups=None, rule_ids=None) -> None:
        self.level = level or None
        self.groups = frozenset(groups) if groups else None
        self.rule_ids = frozenset(rule_ids) if rule_ids else None

    @classmethod
    def from_settings(cls, settings) -> AlertFilter:
        """From ``WAZUH_OCSF_FOLLOW_LEVEL``, ``…_FOLLOW_GROUP`` and ``…_FOLLOW_RULE_ID``."""
        return cls(level=settings.follow_level, groups=settings.follow_group, rule_ids=settings.follow_rule_id)

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return bool(self.level or self.groups or self.rule_ids)

    def matches(self, alert: dict) -> bool:
        """Whether integratord would hand this alert to the integration."""
        rule = alert.get("rule")
        if type(rule) is not dict:
            return False
        if self.level:
            level = rule.get("level")
            if type(level) not in (int, float) or level < self.level:
                return False
        if self.groups:
            groups = rule.get("groups")
            if type(groups) is not list or not any(type(g) is str and g in self.groups for g in groups):
                return False
        if self.rule_ids:
            rule_id = _atoi(rule.get("id"))
            if rule_id is None or rule_id not in self.rule_ids:
                return False
        return True

    def describe(self) -> str:
        """The filters in words, for logs."""
        parts = []
        if self.level:
            parts.append(f"level >= {self.level}")
        if self.groups:
            parts.append("group in " + ",".join(sorted(self.groups)))
        if self.rule_ids:
            parts.append("rule id in " + ",".join(str(i) for i in sorted(self.rule_ids)))
        return " and ".join(parts) or "none"


class MapOptions:
    """What every block is mapped with: class, routes, versions and the filter (picklable).

    ``routes`` (``auto``): the routed classes an alert may go to when it fits one (see
    :mod:`wazuh_ocsf.mapping.routing`); ``class_uid`` is then the class of the others.
    """

    __slots__ = ("alert_filter", "attack_version", "class_uid", "product_version", "routes")

    def __init__(
        self, *, class_uid: int, product_version=None, attack_version=None, alert_filter=None, routes=None
    ) -> None:
        self.class_uid = class_uid
        self.routes = tuple(routes) if routes else None
        self.product_version = product_version
        self.attack_version = attack_version
        self.alert_filter = alert_filter if alert_filter is not None and alert_filter.active else None

    @classmethod
    def from_settings(cls, settings, *, with_filter: bool = False) -> MapOptions:
        """The hook's mapping settings, plus the follow filters when ``with_filter``."""
        return cls(
            class_uid=settings.ocsf_class,
            routes=settings.active_routes() if settings.routing else None,
            product_version=settings.product_version,
            attack_version=settings.attack_version,
            alert_filter=AlertFilter.from_settings(settings) if with_filter else None,
        )

    def __getstate__(self):
        return (self.alert_filter, self.attack_version, self.class_uid, self.product_version, self.routes)

    def __setstate__(self, state) -> None:
        self.alert_filter, self.attack_version, self.class_uid, self.product_version, self.routes = state


class BlockResult:
    """One mapped block.

    ``lines``: the spool lines (a list, or one joined ``bytes`` when mapped with ``joined``);
    ``uids`` / ``days``: each spool line's finding uid and UTC eventDay (``YYYYMMDD``), or
    None when ``joined``; ``bad``: ``[(offset, reason, data)]``; ``filtered``: alerts the
    filter left out; ``end``: the offset just after the block (``base_offset + len(blob)``).
    """

    __slots__ = ("bad", "days", "end", "filtered", "lines", "uids")

    def __init__(self, lines, uids, days, bad, filtered, end) -> None:
        self.lines, self.uids, self.days, self.bad, self.filtered, self.end = lines, uids, days, bad, filtered, end

    def __getstate__(self):
        return (self.lines, self.uids, self.days, self.bad, self.filtered, self.end)

    def __setstate__(self, state) -> None:
        self.lines, self.uids, self.days, self.bad, self.filtered, self.end = state

    @property
    def count(self) -> int:
        """How many spool lines the block produced."""
        if isinstance(self.lines, bytes):
            return self.lines.count(b"\n")
        return len(self.lines)


def _uid_of(event: dict) -> str | None:
    # the finding uid; the activity classes (no finding) carry it as metadata.uid
    holder = event.get("finding") or event.get("finding_info") or event.get("metadata")
    return holder.get("uid") if isinstance(holder, dict) else None


def map_block(blob: bytes, options: MapOptions, *, base_offset: int = 0, offsets=None, joined=False) -> BlockResult:
    """Map every ``\\n``-separated alert line of ``blob`` (a final line may lack the ``\\n``).

    A line's offset is ``offsets[i]`` when given, else ``base_offset`` plus its position in
    ``blob``. Lines that are not alerts or cannot be mapped come back in ``bad``; blank lines
    are ignored.
    """
    out, uids, days, bad = [], [], [], []
    filtered = 0
    alert_filter = options.alert_filter
    class_uid, product_version, attack_version = options.class_uid, options.product_version, options.attack_version
    routes = options.routes
    position = 0
    index = 0
    day_names: dict = {}  # UTC day number → YYYYMMDD: one strftime per day, not per alert
    for line in blob.split(b"\n"):
        start = position
        position += len(line) + 1
        if not line or line.isspace():  # blank (strip() would copy every line to tell)
            continue
        offset = offsets[index] if offsets is not None else base_offset + start
        index += 1
        try:
            alert = fast_json.load_alert(line)
            if alert_filter is not None and not alert_filter.matches(alert):
                filtered += 1
                continue
            event = map_alert(
                alert,
                class_uid=route(alert, class_uid, routes) if routes else class_uid,
                product_version=product_version,
                attack_version=attack_version,
            )
            spool_line = encode_event(event, dumps=fast_json.dumps)
        except AlertError as exc:
            bad.append((offset, str(exc), line))
            continue
        except Exception as exc:  # a mapper bug must not lose the alert: dead-letter it
            bad.append((offset, f"unexpected {type(exc).__name__} while mapping: {exc}", line))
            continue
        out.append(spool_line)
        if not joined:
            uids.append(_uid_of(event))
            day = event["time"] // 86_400_000
            name = day_names.get(day)
            if name is None:
                name = day_names[day] = time.strftime("%Y%m%d", time.gmtime(day * 86_400))
            days.append(name)
    end = base_offset + len(blob)
    if joined:
        return BlockResult(b"".join(out), None, None, bad, filtered, end)
    return BlockResult(out, uids, days, bad, filtered, end)


def _worker_init(parent: int, close_fds: tuple) -> None:
    # Inherited lock descriptors would keep the parent's flock alive in orphaned workers.
    for fd in close_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    # The parent handles SIGINT/SIGTERM and shuts the workers down after its last block.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # A parent killed with SIGKILL cannot shut us down: leave when we are orphaned.
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


class _Done:
    """A finished result that looks like a Future (the inline path)."""

    __slots__ = ("_result",)

    def __init__(self, result) -> None:
        self._result = result

    def result(self, timeout=None):
        return self._result

    def done(self) -> bool:
        return True


class MappingPool:
    """Map blocks in ``workers`` processes (inline when 1), results in submission order.

    Use as a context manager. :meth:`submit` queues a block and returns a handle with
    ``result()``; at most ``2 × workers`` blocks are in flight, so memory stays bounded.
    ``close_fds`` are closed in the workers (lock files: a worker orphaned by a SIGKILLed
    parent must not keep its lock).
    """

    def __init__(self, options: MapOptions, workers: int = 1, *, close_fds: tuple = ()) -> None:
        self.options = options
        self.workers = max(1, int(workers))
        self.close_fds = tuple(close_fds)
        self._executor = None
        self.pending: deque = deque()

    def __enter__(self) -> MappingPool:
        if self.workers > 1:
            import multiprocessing

            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_worker_init,
                initargs=(os.getpid(), self.close_fds),
            )
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (pending blocks are abandoned)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    @property
    def full(self) -> bool:
        """True when the caller should collect a result before submitting more."""
        return len(self.pending) >= 2 * self.workers

    def submit(self, blob: bytes, meta=None, **kwargs) -> None:
        """Queue ``blob`` (see :func:`map_block` for ``kwargs``); ``meta`` comes back with its result."""
        if self._executor is None:
            handle: Future | _Done = _Done(map_block(blob, self.options, **kwargs))
        else:
            handle = self._executor.submit(map_block, blob, self.options, **kwargs)
        self.pending.append((handle, meta))

    def next_result(self, timeout: float | None = None):
        """``(BlockResult, meta)`` of the oldest block, waiting for it; None when none is queued."""
        if not self.pending:
            return None
        handle, meta = self.pending[0]
        result = handle.result(timeout)
        self.pending.popleft()
        return result, meta


def default_workers() -> int:
    """CPUs, at most 4: mapping scales with processes; the spool writer is the parent."""
    return max(1, min(os.cpu_count() or 1, 4))
