"""The spool line: how one OCSF event is stored in a spool segment, and back.

A spool line is the event as compact JSON on one line, with one difference from the OCSF
JSON form: ``unmapped`` (a JSON object of string → string) is stored as a list of
``{"key": …, "value": …}`` objects. pyarrow's JSON reader cannot build ``map`` columns from
objects with arbitrary keys, but it reads this list as ``list<struct<key, value>>`` at full
speed, and the flusher rebuilds the ``map<string, string>`` column from it without a Python
loop per event. Everything else is byte for byte the OCSF event. Every line carries its
``class_uid``, so one segment may hold events of several classes.

The hook imports this module: standard library only.
"""

from __future__ import annotations

from wazuh_ocsf import json_codec

UNMAPPED = "unmapped"


def encode_event(event: dict, *, dumps=json_codec.dumps) -> bytes:
    """An OCSF event → one spool line (UTF-8 JSON, ``\\n``-terminated, no other newline).

    ``dumps``: an encoder with the same output, e.g. :data:`wazuh_ocsf.fast_json.dumps`.
    """
    unmapped = event.get(UNMAPPED)
    if unmapped is not None:
        event = dict(event)
        event[UNMAPPED] = [{"key": key, "value": value} for key, value in unmapped.items()]
    # ensure_ascii=False keeps lines short for non-Latin text; json escapes \n and \r in
    # strings, so the only newline is the terminator.
    text = dumps(event)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate (valid in JSON escapes, not in UTF-8) would make the whole line
        # unreadable for the flusher: it becomes "?" and the rest of the event survives.
        return text.encode("utf-8", "replace") + b"\n"


def decode_line(line: bytes | str) -> dict:
    """One spool line → the OCSF event it was encoded from. Raises ValueError if it is not one."""
    event = json_codec.loads(line)
    if not isinstance(event, dict):
        raise ValueError("spool line is not a JSON object")
    pairs = event.get(UNMAPPED)
    if pairs is not None:
        event[UNMAPPED] = {pair["key"]: pair["value"] for pair in pairs}
    return event
