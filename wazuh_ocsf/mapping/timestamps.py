"""Wazuh alert timestamps → epoch milliseconds (UTC) and the offset in minutes.

Plain arithmetic on purpose: ``datetime`` is not imported on the hook path, and
``datetime.fromisoformat`` cannot parse ``+0000`` before Python 3.11. Accepted forms:
``2024-04-22T14:20:46.976+0000`` (what Wazuh writes), ``+00:00``, ``Z``, any number of
fraction digits or none, ``T`` or a space between date and time. A timestamp without any
offset is taken as UTC and has no ``timezone_offset``.
"""

from __future__ import annotations

from wazuh_ocsf.errors import AlertError

# [0-9], not \d: \d also matches other scripts' digits, which int() would then accept.
_TIMESTAMP = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:[.,]([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))?\Z"
)
_compiled: list = []  # _TIMESTAMP compiled, once a timestamp needs it: ``re`` costs the hook ~10 ms
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

#: Latest ``time`` the flusher stores (exclusive): 10000-01-01T00:00:00Z in epoch milliseconds,
#: the last ``YYYYMMDD`` eventDay. The earliest is 0 (1970-01-01): Security Lake partitions,
#: and the flusher's check (:mod:`wazuh_ocsf.flush.convert`), take nothing before the epoch.
MAX_TIME_MS = 253_402_300_800_000


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _valid(year: int, month: int, day: int, hour: int, minute: int, second: int) -> bool:
    """Whether the fields are a real date and time (second 60: a leap second, counted as the
    next second's first instant)."""
    return (
        1 <= month <= 12
        and 1 <= day <= _DAYS_IN_MONTH[month]
        and (month != 2 or day != 29 or (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)))
        and hour <= 23
        and minute <= 59
        and second <= 60
    )


def parse_timestamp(value: object) -> tuple:
    """``timestamp`` → ``(epoch_ms, offset_minutes)``; ``offset_minutes`` is None without an offset.

    Fractions beyond milliseconds are truncated, not rounded, so the same instant always
    gives the same ``time``. Raises AlertError naming the value when it is not a timestamp.
    """
    if type(value) is not str:
        raise AlertError(f"timestamp is not a string (got {type(value).__name__})")
    if len(value) == 28 and value[4:20:3] == "--T::." and value.isascii():
        # What almost every alert holds (2024-04-22T14:20:46.976+0000, or the manager's own
        # offset): fixed positions, the separators at 4, 7, 10, 13, 16 and 19 checked above.
        # Two int() calls instead of seven: YYYYMMDD and hhmmssfff (ASCII, so isdigit() means
        # [0-9]), and a third for an offset other than +0000. Anything odd is left to the
        # regular expression below.
        date = value[0:4] + value[5:7] + value[8:10]
        clock = value[11:13] + value[14:16] + value[17:19] + value[20:23]
        zone = value[23:]
        if zone == "+0000":
            offset = 0
        elif zone[0] in "+-" and zone[1:].isdigit() and int(zone[1:3]) <= 23 and int(zone[3:]) <= 59:
            offset = int(zone[1:3]) * 60 + int(zone[3:])
            if zone[0] == "-":
                offset = -offset
        else:
            offset = None
        if offset is not None and date.isdigit() and clock.isdigit():
            date, clock = int(date), int(clock)
            year, month, day = date // 10000, date // 100 % 100, date % 100
            hour, minute, second = clock // 10000000, clock // 100000 % 100, clock // 1000 % 100
            if _valid(year, month, day, hour, minute, second):
                seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
                epoch_ms = (seconds - offset * 60) * 1000 + clock % 1000
                if 0 <= epoch_ms < MAX_TIME_MS:
                    return epoch_ms, offset
    if not _compiled:
        import re

        _compiled.append(re.compile(_TIMESTAMP))
    match = _compiled[0].match(value)
    if match is None:
        raise AlertError(f"timestamp {value[:64]!r} is not an ISO 8601 date and time like 2024-04-22T14:20:46.976+0000")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_hours, off_minutes = match.groups()
    year, month, day = int(year), int(month), int(day)
    hour, minute, second = int(hour), int(minute), int(second)
    if not _valid(year, month, day, hour, minute, second):
        raise AlertError(f"timestamp {value[:64]!r} is not a valid date and time")
    if sign is not None:
        off_hours, off_minutes = int(off_hours), int(off_minutes)
        if off_hours > 23 or off_minutes > 59:
            raise AlertError(f"timestamp {value[:64]!r} has an invalid UTC offset")
        offset = off_hours * 60 + off_minutes
        if sign == "-":
            offset = -offset
    elif zulu is not None:
        offset = 0
    else:
        offset = None
    seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    if offset:
        seconds -= offset * 60
    millis = int((fraction + "00")[:3]) if fraction else 0
    epoch_ms = seconds * 1000 + millis
    if not 0 <= epoch_ms < MAX_TIME_MS:
        # What the flusher could not store is refused here, so the alert is kept as a dead letter.
        raise AlertError(f"timestamp {value[:64]!r} is outside 1970-01-01..9999-12-31 UTC")
    return epoch_ms, offset
