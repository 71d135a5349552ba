"""JSON for the bulk paths (``follow``, ``backfill``): orjson when the venv has it, else the standard library.

orjson decodes alerts about 2.7× and encodes events about 6× faster than the standard
library here. The results are the same as :mod:`wazuh_ocsf.json_codec`'s, byte for byte:

* :func:`load_alert` — :func:`wazuh_ocsf.mapping.load_alert`. What orjson does not decode
  the same way it refuses (NaN and Infinity, lone surrogate escapes, nesting past its limit,
  malformed text), or is never given (integers past 64 bits, which it would make floats),
  and the standard-library path decodes it or raises the usual AlertError.
* :func:`dumps` — :func:`wazuh_ocsf.json_codec.dumps` (compact, non-ASCII kept) for every
  value an OCSF event holds: str-keyed objects, arrays, strings, 64-bit integers, booleans
  and null. What orjson refuses (larger integers, other keys, lone surrogates) is encoded by
  the standard library. Floats are not in the OCSF schemas (the flusher refuses them) and
  orjson writes some of them differently (``0.00001`` for ``1e-05``).

The hook never imports this module: it runs ``-I -S`` on the standard library alone.
"""

from __future__ import annotations

from wazuh_ocsf import json_codec
from wazuh_ocsf.mapping import load_alert as _load_alert_stdlib

try:
    import orjson
except ImportError:  # the standard library does it all, only slower
    orjson = None


#: 19 digits in a row: maybe an integer orjson would read as a float (beyond 64 bits), or
#: digits in a string; either way the standard library decodes that alert. Found by mapping
#: digits to "0" and everything else to " " (8× faster than a regular expression here).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"0" * 19


def _load_alert_orjson(data: bytes) -> dict:
    if _LONG_NUMBER in data.translate(_DIGITS_ONLY):
        return _load_alert_stdlib(data)
    try:
        alert = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _load_alert_stdlib(data)  # decodes what orjson refuses, or says why it is not an alert
    if type(alert) is not dict:
        return _load_alert_stdlib(data)
    return alert


def _dumps_orjson(obj: object) -> str:
    try:
        return orjson.dumps(obj).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError: big integers, non-str keys, lone surrogates
        return json_codec.dumps(obj)


#: One alert's JSON text (bytes) → the alert dict; AlertError when it is not one JSON object.
load_alert = _load_alert_orjson if orjson is not None else _load_alert_stdlib
#: ``json_codec.dumps(obj)``: compact JSON text, non-ASCII kept.
dumps = _dumps_orjson if orjson is not None else json_codec.dumps
#: Which implementation is in use: ``"orjson"`` or ``"json"``.
BACKEND = "orjson" if orjson is not None else "json"
