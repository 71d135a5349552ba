"""``unmapped``: every alert value that no OCSF attribute holds, so nothing is lost.

Keys are dotted alert paths (``data.win.system.eventID``), values strings: strings as they
are, other scalars and lists JSON-encoded (``5``, ``true``, ``["a","b"]``). Objects are walked
into; a list is one value, whatever it holds. Empty values (``null``, ``""``, ``{}``, ``[]``)
carry nothing and are left out. The paths the class mapper marked as *used* (an attribute
holds them exactly) are skipped, with everything below them. Keys and values are cut at
65,535 characters like every OCSF string. Should two paths meet (a key that itself contains
dots: ``{"a.b": 1, "a": {"b": 2}}``), the later one gets ``#2``, ``#3`` … appended.
"""

from __future__ import annotations

from wazuh_ocsf import json_codec
from wazuh_ocsf.mapping.common import MAX_STRING, cut, int_text

_dumps = json_codec.dumps
_encode_str = json_codec.encode_string  # C: one JSON string, ensure_ascii=False


def _encode(value: object) -> str:
    if type(value) is list:
        try:  # the common list: strings only (rule.gdpr, data.tags, …), one C pass
            text = "[" + ",".join(map(_encode_str, value)) + "]"
            return text if len(text) <= MAX_STRING else cut(text)
        except TypeError:
            pass
    try:
        text = _dumps(value, default=repr)
    except (ValueError, TypeError, RecursionError):  # circular, non-str keys of mixed types, …
        text = repr(value)
    return text if len(text) <= MAX_STRING else cut(text)


def _put(out: dict, key: str, value: str) -> None:
    if len(key) > MAX_STRING:
        key = cut(key)
    if key in out:
        number = 2
        while f"{key}#{number}" in out:
            number += 1
        key = f"{key}#{number}"
    out[key] = value


def _leaf(value: object) -> str | None:
    """A non-dict value → its unmapped text, None for an empty one."""
    kind = type(value)
    if kind is str:
        if not value:
            return None
        return value if len(value) <= MAX_STRING else cut(value)
    if kind is int:
        return int_text(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None or (kind is list and not value):
        return None
    return _encode(value)  # lists, floats, and anything a caller built by hand


def _walk_fast(obj: dict, prefix: str, append) -> None:
    # The hot loop of the mapper (data.*, syscheck.*: nothing below is used). It assumes
    # str keys and leaves every rare case (long strings, key collisions, odd types) to the
    # checks in map_unmapped, which run once per alert in C (max, map, len, dict).
    for key, value in obj.items():
        kind = type(value)
        if kind is str:
            if value:
                append((prefix + key, value))
        elif kind is dict:
            if value:
                _walk_fast(value, prefix + key + ".", append)
        elif kind is int:
            append((prefix + key, str(value)))
        elif kind is bool:
            append((prefix + key, "true" if value else "false"))
        elif kind is list:
            if value:
                append((prefix + key, _encode(value)))
        elif value is not None:
            append((prefix + key, _encode(value)))


def _walk_safe(obj: dict, prefix: str, out: dict) -> None:
    # The same walk for alerts the fast one cannot take (non-str keys, huge ints).
    for key, value in obj.items():
        path = prefix + (key if type(key) is str else str(key))
        if type(value) is dict:
            if value:
                _walk_safe(value, path + ".", out)
            continue
        value = _leaf(value)
        if value is not None:
            _put(out, path, value)


def _walk_used(obj: dict, prefix: str, used: set, parents: set, append) -> None:
    # Top level and the used objects (rule, agent, …): skip what an attribute holds.
    for key, value in obj.items():
        path = prefix + key
        if path in used:
            continue
        kind = type(value)
        if kind is str:
            if value:
                append((path, value))  # long ones are cut in map_unmapped
        elif kind is dict:
            if value:
                if path in parents:
                    _walk_used(value, path + ".", used, parents, append)
                else:
                    _walk_fast(value, path + ".", append)
        else:
            value = _leaf(value)
            if value is not None:
                append((path, value))


def _unused(obj: dict, used: set) -> dict:
    # map_unmapped's careful path: what the fast path does, one value at a time.
    out = {}
    for key, value in obj.items():
        path = key if type(key) is str else str(key)
        if path in used:
            continue
        if type(value) is dict:
            if value:
                inner = {path + "." + sub: item for sub, item in _unused(value, _below(used, path)).items()}
                for sub, item in inner.items():
                    _put(out, sub, item)
            continue
        value = _leaf(value)
        if value is not None:
            _put(out, path, value)
    return out


def _below(used: set, path: str) -> set:
    start = path + "."
    return {item[len(start) :] for item in used if item.startswith(start)}


# Every object that holds a path the mappers can mark as used ("rule" and "rule.mitre" for
# "rule.mitre.id"): only these are walked with the used checks. A test keeps it complete.
USED_PARENTS = frozenset({"rule", "rule.mitre", "agent", "manager", "decoder"})


def map_unmapped(alert: dict, used: set) -> dict | None:
    """Every non-empty alert value whose path (or a parent's) is not in ``used``; None if none.

    ``used`` holds top-level paths and paths below :data:`USED_PARENTS` only.
    """
    pairs = []
    try:
        _walk_used(alert, "", used, USED_PARENTS, pairs.append)
    except (TypeError, ValueError):  # a non-str key, an int too long for str(): the careful path
        out = _unused(alert, used)
        return out or None
    if not pairs:
        return None
    out = dict(pairs)
    if len(out) != len(pairs) or max(map(len, out)) > MAX_STRING or max(map(len, out.values())) > MAX_STRING:
        out = {}
        for path, value in pairs:
            _put(out, path, value if len(value) <= MAX_STRING else cut(value))
    return out
