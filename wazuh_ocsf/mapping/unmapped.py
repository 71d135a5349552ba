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
    if type(value) is list and value:
        try:  # the common list: strings only (rule.gdpr, data.tags, …), C passes only
            joined = "".join(value)
        except TypeError:
            pass
        else:
            if len(_encode_str(joined)) == len(joined) + 2:  # no member needs a JSON escape
                text = '["' + '","'.join(value) + '"]'
            else:
                text = "[" + ",".join(map(_encode_str, value)) + "]"
            return text if len(text) <= MAX_STRING else cut(text)
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
    dict.__setitem__(out, key, value)  # not out[key]: that would call _Careful.__setitem__ again


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


def _walk_fast(obj: dict, prefix: str, out: dict) -> int:
    # The hot loop of the mapper (data.*, syscheck.*: nothing below is used). It assumes
    # str keys and leaves every rare case (long strings, key collisions, odd types) to the
    # checks in map_unmapped, which run once per alert in C (max, map, len). Returns how
    # many values it stored: fewer keys in ``out`` than that means two paths met.
    count = 0
    for key, value in obj.items():
        kind = type(value)
        if kind is str:
            if value:
                out[prefix + key] = value
                count += 1
        elif kind is dict:
            if value:
                count += _walk_fast(value, prefix + key + ".", out)
        elif kind is int:
            out[prefix + key] = str(value)
            count += 1
        elif kind is bool:
            out[prefix + key] = "true" if value else "false"
            count += 1
        elif kind is list:
            if value:
                out[prefix + key] = _encode(value)
                count += 1
        elif value is not None:
            out[prefix + key] = _encode(value)
            count += 1
    return count


def _walk_used(obj: dict, prefix: str, used: set, parents: frozenset, out: dict) -> int:
    # Top level and the used objects (rule, agent, …): skip what an attribute holds.
    count = 0
    for key, value in obj.items():
        path = prefix + key
        if path in used:
            continue
        kind = type(value)
        if kind is str:
            if value:
                out[path] = value  # long ones are cut in map_unmapped
                count += 1
        elif kind is dict:
            if value:
                if path in parents:
                    count += _walk_used(value, path + ".", used, parents, out)
                else:
                    count += _walk_fast(value, path + ".", out)
        elif kind is list:  # rule.gdpr, rule.pci_dss, … (Detection Finding keeps them here)
            if value:
                out[path] = _encode(value)
                count += 1
        elif kind is int:  # rule.firedtimes; one too long for str() takes the careful path
            out[path] = str(value)
            count += 1
        elif kind is bool:  # rule.mail
            out[path] = "true" if value else "false"
            count += 1
        elif value is not None:
            value = _leaf(value)
            if value is not None:
                out[path] = value
                count += 1
    return count


class _Careful(dict):
    # The walks' target for the rare alert with a long key or value or two paths that meet:
    # each value stored as _put stores it (cut, numbered), in the walks' order.
    __slots__ = ()

    def __setitem__(self, key: str, value: str) -> None:
        _put(self, key, value if len(value) <= MAX_STRING else cut(value))


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


def with_parents(used: set) -> frozenset:
    """:data:`USED_PARENTS` plus every object above a path of ``used``: the ``parents`` of a
    class that marks paths deep in ``data`` or ``syscheck`` as used."""
    parents = set(USED_PARENTS)
    for path in used:
        cut_at = path.rfind(".")
        while cut_at > 0:
            path = path[:cut_at]
            if path in parents:
                break
            parents.add(path)
            cut_at = path.rfind(".")
    return frozenset(parents)


def map_unmapped(alert: dict, used: set, parents: frozenset = USED_PARENTS) -> dict | None:
    """Every non-empty alert value whose path (or a parent's) is not in ``used``; None if none.

    ``used`` holds top-level paths and paths below ``parents`` only (:func:`with_parents`).
    """
    out = {}
    try:
        count = _walk_used(alert, "", used, parents, out)
    except (TypeError, ValueError):  # a non-str key, an int too long for str(): the careful path
        out = _unused(alert, used)
        return out or None
    if not out:
        return None
    # Keys and values are all str: a long one shows in their joined length first (one C pass
    # each, cheaper than max(map(len, …)) for every alert when nothing is long).
    if count != len(out) or (
        (len("".join(out)) > MAX_STRING and max(map(len, out)) > MAX_STRING)
        or (len("".join(out.values())) > MAX_STRING and max(map(len, out.values())) > MAX_STRING)
    ):
        careful = _Careful()
        _walk_used(alert, "", used, parents, careful)
        out = dict(careful)
    return out
