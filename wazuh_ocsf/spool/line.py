"""The spool line: how one OCSF event is stored in a spool segment, and back.

A spool line is the event as compact JSON on one line, in one of two formats:

* **lean** (format 2, what every writer writes): ``"_format":2`` first; ``unmapped`` (a JSON
  object of string → string) as two parallel lists ``"_unmapped_keys"`` and
  ``"_unmapped_values"``; and without the attributes that follow from the class and the
  event's ids (:func:`wazuh_ocsf.class_facts.derived_attributes`: ``category_*``,
  ``class_name``, ``type_*``, ``activity_name``, ``severity``, ``status``, ``state`` and the
  constant metadata). pyarrow's JSON reader parses the lists at a fraction of the cost of
  key/value objects, and the flusher rebuilds the ``map<string, string>`` column and puts
  the left-out attributes back with Arrow compute, without a Python loop per event
  (:func:`wazuh_ocsf.flush.arrow_schema.from_spool_table`). An attribute is left out only when it
  holds exactly the value it follows from; one that differs stays in the line and wins.
* **full** (format 1, no ``_format``: what earlier releases wrote): the OCSF event byte for
  byte but ``unmapped``, which is a list of ``{"key": …, "value": …}`` objects. An event
  the lean format cannot restore exactly (it lacks an attribute the table would put back)
  is still written this way. Segments may mix both formats; both flush to the same rows.

Every line carries its ``class_uid``, so one segment may hold events of several classes.
Names beginning with ``_`` are the line's own, never OCSF attributes.

The hook imports this module: standard library only.
"""

from __future__ import annotations

from wazuh_ocsf import json_codec
from wazuh_ocsf.class_facts import derived_attributes

UNMAPPED = "unmapped"
FORMAT = "_format"
LEAN = 2
UNMAPPED_KEYS = "_unmapped_keys"
UNMAPPED_VALUES = "_unmapped_values"
_MISSING = object()


def encode_event(event: dict, *, dumps=json_codec.dumps) -> bytes:
    """An OCSF event → one spool line (UTF-8 JSON, ``\\n``-terminated, no other newline).

    The lean format where it restores the event exactly, else the full one.
    ``dumps``: an encoder with the same output, e.g. :data:`wazuh_ocsf.fast_json.dumps`.
    """
    line = _lean(event)
    if line is None:
        line = event
        unmapped = event.get(UNMAPPED)
        if unmapped is not None:
            line = dict(event)
            line[UNMAPPED] = [{"key": key, "value": value} for key, value in unmapped.items()]
    # ensure_ascii=False keeps lines short for non-Latin text; json escapes \n and \r in
    # strings, so the only newline is the terminator.
    text = dumps(line)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate (valid in JSON escapes, not in UTF-8) would make the whole line
        # unreadable for the flusher: it becomes "?" and the rest of the event survives.
        return text.encode("utf-8", "replace") + b"\n"


def _at(event: dict, path: tuple) -> object:
    value = event
    for name in path:
        value = value.get(name, _MISSING) if type(value) is dict else _MISSING
    return value


def _expected(event: dict, source: str | None, values: object) -> object:
    """The value a derived attribute must hold in ``event``, or None when nothing follows."""
    if source is None:
        return values
    value = event.get(source)
    return values.get(value) if type(value) is int else None


def _lean(event: dict) -> dict | None:
    """``event`` in the lean format, or None when that would not restore it exactly."""
    class_uid = event.get("class_uid")
    try:
        derived = derived_attributes(class_uid) if type(class_uid) is int else None
    except KeyError:
        derived = None
    unmapped = event.get(UNMAPPED)
    if derived is None or (unmapped is not None and type(unmapped) is not dict):
        return None
    left_out = set()  # top-level attributes
    below: dict = {}  # top-level attribute → paths below it
    for path, source, values in derived:
        expected = _expected(event, source, values)
        if expected is None:
            continue
        actual = _at(event, path)
        if actual is _MISSING or actual is None:
            return None  # restoring would fill an attribute the event does not have
        if type(actual) is type(expected) and actual == expected:
            if len(path) == 1:
                left_out.add(path[0])
            else:
                below.setdefault(path[0], set()).add(path[1:])
    line = {FORMAT: LEAN}
    for key, value in event.items():
        if key in left_out:
            continue
        if key == UNMAPPED and value is not None:
            line[UNMAPPED_KEYS] = list(value)
            line[UNMAPPED_VALUES] = list(value.values())
            continue
        if key in below:
            value = _without(value, below[key])
            if not value:
                continue
        line[key] = value
    return line


def _without(obj: dict, paths: set) -> dict:
    """A copy of ``obj`` without ``paths``; an object left empty is left out too."""
    out = {}
    for key, value in obj.items():
        if (key,) in paths:
            continue
        below = {path[1:] for path in paths if path[0] == key and len(path) > 1}
        if below and type(value) is dict:
            value = _without(value, below)
            if not value:
                continue
        out[key] = value
    return out


def decode_line(line: bytes | str) -> dict:
    """One spool line (either format) → the OCSF event it was encoded from.

    Raises ValueError if it is not one.
    """
    event = json_codec.loads(line)
    if not isinstance(event, dict):
        raise ValueError("spool line is not a JSON object")
    line_format = event.pop(FORMAT, None)
    if line_format is None:
        pairs = event.get(UNMAPPED)
        if pairs is not None:
            event[UNMAPPED] = {pair["key"]: pair["value"] for pair in pairs}
        return event
    if line_format != LEAN:
        raise ValueError(f"spool line format {line_format!r} is not one this version reads")
    return _restored(event)


def _restored(line: dict) -> dict:
    """A lean line's object → the event: unmapped as an object, the left-out attributes back."""
    keys, values = line.pop(UNMAPPED_KEYS, None), line.pop(UNMAPPED_VALUES, None)
    if keys is not None or values is not None:
        if type(keys) is not list or type(values) is not list or len(keys) != len(values):
            raise ValueError("spool line's unmapped keys and values do not pair up")
        line[UNMAPPED] = dict(zip(keys, values))
    class_uid = line.get("class_uid")
    try:
        derived = derived_attributes(class_uid) if type(class_uid) is int else ()
    except KeyError:
        raise ValueError(f"spool line of unknown class_uid {class_uid!r}") from None
    after: dict = {}  # top-level attribute → the derived ones that follow it in the event
    nested = []
    for path, source, values in derived:
        expected = _expected(line, source, values)
        if expected is None:
            continue
        if len(path) > 1:
            nested.append((path, expected))
        elif path[0] not in line:
            after.setdefault(source or "class_uid", []).append((path[0], expected))
    event = {}
    for key, value in line.items():
        event[key] = value
        for name, expected in after.get(key, ()):
            event[name] = expected
    for path, expected in nested:
        parent = event
        for name in path[:-1]:
            parent = parent.setdefault(name, {})
        parent.setdefault(path[-1], expected)
    return event
