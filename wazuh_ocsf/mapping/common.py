"""Constants and value rules shared by every OCSF class mapper.

* Strings: OCSF ``string_t`` holds at most 65,535 characters; longer ones are cut with a
  visible marker that says how long the original was (:func:`cut`).
* Integers: ``integer_t`` is stored as int32 and ``long_t``/``timestamp_t`` as int64; a value
  out of range is not mapped (the caller leaves it in ``unmapped``).
* Type surprises (``rule.id`` as a number, ``rule.level`` as ``"5"``): a value is converted
  for its OCSF attribute when that is unambiguous, and its alert path is marked as *used*
  only when it had the expected JSON type, so the original stays in ``unmapped`` otherwise.
"""

from __future__ import annotations

from wazuh_ocsf.class_facts import (  # noqa: F401 -- re-exported: the mappers' constants
    LOG_NAME,
    LOG_PROVIDER,
    OCSF_VERSION,
    PRODUCT_LANG,
    PRODUCT_NAME,
    SEVERITIES,
    VENDOR_NAME,
)

MAX_STRING = 65535
TRUNCATION_MARKER = "…[truncated by wazuh-ocsf: {} characters in total]"

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# (lowest rule.level, severity_id, severity), highest first.
_SEVERITIES = tuple((lowest, sid, SEVERITIES[sid]) for lowest, sid in ((15, 5), (11, 4), (8, 3), (4, 2), (0, 1)))
SEVERITY_UNKNOWN = (0, SEVERITIES[0])

_DIGITS = frozenset("0123456789")


def cut(value: str) -> str:
    """``value`` if it fits in 65,535 characters, else its head plus a visible truncation marker."""
    if len(value) <= MAX_STRING:
        return value
    marker = TRUNCATION_MARKER.format(len(value))
    return value[: MAX_STRING - len(marker)] + marker


def as_text(value: object) -> str | None:
    """A non-empty string for a string attribute: str as is (cut), int/float as text, else None."""
    kind = type(value)
    if kind is str:
        if not value:
            return None
        return value if len(value) <= MAX_STRING else cut(value)
    if kind is int:
        return int_text(value)
    if kind is float:
        return repr(value)
    return None


def int_text(value: int) -> str:
    """``str(value)``, or hex for integers too long for ``str()`` (Python 3.11's digit limit)."""
    try:
        return str(value)
    except ValueError:
        return hex(value)


def as_int(value: object, low: int = INT32_MIN, high: int = INT32_MAX) -> int | None:
    """An int in ``[low, high]`` from an int or a decimal string (``"5"``, ``"-3"``), else None."""
    kind = type(value)
    if kind is int:
        return value if low <= value <= high else None
    if kind is str and 0 < len(value) <= 20:
        digits = value[1:] if value[0] in "+-" else value
        if digits and _DIGITS.issuperset(digits):
            number = int(value)
            return number if low <= number <= high else None
    return None


def severity(level: int | None) -> tuple:
    """``rule.level`` → ``(severity_id, severity)``: ≥15 Critical … ≥0 Informational, else Unknown."""
    if level is None:
        return SEVERITY_UNKNOWN
    for lowest, severity_id, name in _SEVERITIES:
        if level >= lowest:
            return severity_id, name
    return SEVERITY_UNKNOWN


def text_list(value: object) -> list | None:
    """A list of non-empty strings (each cut) from a list of strings or one string, else None.

    Returns None as well when the list holds anything but strings, so the caller keeps the
    original in ``unmapped`` instead of dropping its other members.
    """
    if type(value) is str:
        return [cut(value)] if value else None
    if type(value) is not list or not value:
        return None
    # C-level checks instead of a Python loop: join() refuses anything but strings.
    try:
        joined = "".join(value)
    except TypeError:
        return None
    if "" in value:
        return None
    if len(joined) > MAX_STRING and max(map(len, value)) > MAX_STRING:
        return [cut(item) for item in value]
    return value[:]  # a copy: the event shares nothing with the alert


def basename(path: str) -> str:
    """The last component of a POSIX or Windows path (``C:\\x\\y.exe`` → ``y.exe``)."""
    cut_at = max(path.rfind("/"), path.rfind("\\"))
    return path[cut_at + 1 :] if cut_at >= 0 else path
