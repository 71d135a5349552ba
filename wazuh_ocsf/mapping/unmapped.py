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

import json

from wazuh_ocsf.mapping.common import MAX_STRING, cut, int_text


def _encode(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)
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


def _walk(obj: dict, prefix: str, used: set, out: dict) -> None:
    # The hot loop of the mapper: one pass, with the rare cases (long strings, key
    # collisions) pushed into _put.
    for key, value in obj.items():
        path = prefix + key if type(key) is str else prefix + str(key)
        if path in used:
            continue
        kind = type(value)
        if kind is str:
            if not value:
                continue
            if len(value) > MAX_STRING:
                value = cut(value)
        elif kind is dict:
            if value:
                _walk(value, path + ".", used, out)
            continue
        elif kind is int:
            value = int_text(value)
        elif kind is bool:
            value = "true" if value else "false"
        elif value is None:
            continue
        elif kind is list:
            if not value:
                continue
            value = _encode(value)
        else:  # float, and anything a caller built by hand
            value = _encode(value)
        if path in out or len(path) > MAX_STRING:
            _put(out, path, value)
        else:
            out[path] = value


def map_unmapped(alert: dict, used: set) -> dict | None:
    """Every non-empty alert value whose path (or a parent's) is not in ``used``; None if none."""
    out = {}
    _walk(alert, "", used, out)
    return out or None
