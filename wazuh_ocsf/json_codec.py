"""JSON for the hook path: ``json.loads`` / compact ``json.dumps`` without importing ``json``.

``import json`` costs the hook about half its run time, nearly all of it in ``re`` (and the
``enum``, ``functools`` and ``collections`` that ``re`` pulls in), which ``json.decoder`` needs
only for its pure-Python fallback. This module drives CPython's C accelerator ``_json``
directly, with the very arguments ``json`` itself passes it, so the results are the same:

* :func:`loads` — ``json.loads(text)``: same values, same ``NaN``/``Infinity`` handling, and
  on malformed input the same :class:`json.JSONDecodeError` (a ValueError with ``msg``,
  ``pos``, ``lineno``, ``colno``). ``json`` is imported only to raise it.
* :func:`dumps` — ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``, plus the
  ``sort_keys`` and ``default`` options of ``json.dumps``;
* :data:`encode_string` — ``json.encoder.encode_basestring``: one str → its JSON literal.

Where ``_json`` is missing or not the interface this module knows (another Python
implementation), both fall back to ``json`` itself. Standard library only.
"""

from __future__ import annotations

__all__ = ["dumps", "encode_string", "loads"]

_WHITESPACE = " \t\n\r"  # JSON's insignificant whitespace, the only whitespace json skips
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _ScannerContext:
    # What _json.make_scanner reads from a json.JSONDecoder, set to JSONDecoder()'s defaults.
    __slots__ = ("memo", "object_hook", "object_pairs_hook", "parse_constant", "parse_float", "parse_int", "strict")

    def __init__(self) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _CONSTANTS.__getitem__
        self.memo = {}


def _not_serializable(obj: object) -> object:
    # json.JSONEncoder.default: the same TypeError, word for word.
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def _accelerator(use_c: bool = True) -> tuple:
    """``(scan_once, make_encoder, encode_str)`` from ``_json``; ``(None, None, None)`` without it."""
    if not use_c:
        return None, None, None
    try:
        import _json

        scan_once = _json.make_scanner(_ScannerContext())
        make_encoder = _json.make_encoder
        encode_str = _json.encode_basestring
        # One probe of each: an accelerator that takes other arguments fails here, not later.
        make_encoder({}, _not_serializable, encode_str, None, ":", ",", False, False, True)
        probe = '{"a":[1,2.5,"\\u00e9",null]}'
        if scan_once(probe, 0) != ({"a": [1, 2.5, "\u00e9", None]}, len(probe)):
            return None, None, None
    except (ImportError, AttributeError, TypeError, ValueError, StopIteration):
        return None, None, None
    return scan_once, make_encoder, encode_str


_scan_once, _make_encoder, _encode_str = _accelerator()


def _encode_string_fallback(text: str) -> str:
    from json.encoder import encode_basestring

    return encode_basestring(text)


#: One str → its JSON string literal, non-ASCII kept (``json.encoder.encode_basestring``);
#: TypeError for anything but a str.
encode_string = _encode_str if _encode_str is not None else _encode_string_fallback


def _decode_error(message: str, text: str, pos: int) -> ValueError:
    from json import JSONDecodeError  # only on the error path

    return JSONDecodeError(message, text, pos)


def _loads_str(text: str, scan_once) -> object:
    if scan_once is None:
        import json

        return json.loads(text)
    if text.startswith("\ufeff"):
        raise _decode_error("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    start = 0
    if text[:1] in _WHITESPACE:  # "" is in every str: an empty text gets here, harmlessly
        start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = scan_once(text, start)
    except StopIteration as exc:
        raise _decode_error("Expecting value", text, exc.value) from None
    except SystemError:
        # CPython 3.10 and 3.11: on malformed input _json raises json.decoder.JSONDecodeError
        # found in sys.modules without importing it, and without it fails with "returned NULL
        # without setting an exception". Load it and scan again: the same error, raised right.
        import sys

        if "json.decoder" in sys.modules:
            raise
        import json.decoder

        return _loads_str(text, scan_once)
    if end != len(text):
        tail = text[end:].lstrip(_WHITESPACE)  # trailing whitespace is fine, anything else not
        if tail:
            raise _decode_error("Extra data", text, len(text) - len(tail))
    return value


def _loads(data: str | bytes | bytearray, scan_once) -> object:
    kind = type(data)
    if kind is str:
        return _loads_str(data, scan_once)
    if kind is bytes or kind is bytearray:
        first = data[0] if data else 1
        # json.loads detects UTF-16/32 (NUL bytes) and BOMs; plain UTF-8 is all we expect, and
        # anything else is left to json itself, which then decides exactly as json.loads.
        if first not in (0, 0xEF, 0xFE, 0xFF) and (len(data) < 2 or data[1] != 0):
            return _loads_str(data.decode("utf-8", "surrogatepass"), scan_once)
    import json  # other input types and encodings: json's own checks and messages

    return json.loads(data)


def _dumps(obj: object, make_encoder, encode_str, *, sort_keys: bool = False, default=None) -> str:
    if make_encoder is None:
        import json

        return json.dumps(
            obj, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys, default=default
        )
    if type(obj) is str:  # what json.JSONEncoder.encode does first
        return encode_str(obj)
    # A fresh markers dict per call, as json.dumps makes one: circular structures raise
    # ValueError("Circular reference detected") instead of recursing until RecursionError.
    encoder = make_encoder(
        {}, default or _not_serializable, encode_str, None, ":", ",", bool(sort_keys), False, True
    )
    return "".join(encoder(obj, 0))


def loads(data: str | bytes | bytearray) -> object:
    """``json.loads(data)``: the JSON document ``data`` holds → its Python value.

    Raises :class:`json.JSONDecodeError` (a ValueError with the position) when ``data`` is not
    one JSON document, ValueError for an integer beyond ``sys.get_int_max_str_digits()``,
    RecursionError when it is nested too deeply, TypeError for a type json.loads refuses.
    """
    return _loads(data, _scan_once)


def dumps(obj: object, *, sort_keys: bool = False, default=None) -> str:
    """``json.dumps(obj, ensure_ascii=False, separators=(",", ":"), ...)``: compact JSON text.

    ``NaN`` and infinities are written as ``NaN``/``Infinity`` like json's default. Objects
    JSON cannot encode go to ``default`` (a function returning something it can), else
    raise TypeError; circular references raise ValueError.
    """
    return _dumps(obj, _make_encoder, _encode_str, sort_keys=sort_keys, default=default)
