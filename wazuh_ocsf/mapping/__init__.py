"""Wazuh alert → OCSF 1.1.0 event: pure functions, standard library only, cheap imports.

The hook runs this on every alert, so nothing here does I/O or keeps state, and the success
path imports nothing beyond ``os``-level standard library: no ``json`` or ``re`` (JSON goes
through :mod:`wazuh_ocsf.json_codec`), and only the mapper module of the class asked for.

* :func:`load_alert` — bytes/str → alert dict, or AlertError saying why not.
* :func:`map_alert` — alert dict → OCSF event dict of the chosen class (:data:`MAPPERS`).
* :func:`finding_uid` — the finding's unique ID, derived only from node, id and time.

Events use only OCSF attributes whose Arrow type is int32/int64/string/bool, structs and
lists, plus ``unmapped`` (string → string); no ``json_t`` attribute is ever emitted, so
``wazuh_ocsf.flush.arrow_schema`` holds every event without a per-event transformation.
"""

from __future__ import annotations

from _collections_abc import Mapping  # what collections.abc re-exports; os has loaded it

from wazuh_ocsf import json_codec
from wazuh_ocsf.config import CLASS_NAMES, DETECTION_FINDING, SECURITY_FINDING
from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping.base import finding_uid, parse_alert

__all__ = ["CLASS_NAMES", "DETECTION_FINDING", "MAPPERS", "SECURITY_FINDING", "finding_uid", "load_alert", "map_alert"]


class _Mappers(Mapping):
    """class_uid → mapper: ``map_<name>`` of module ``wazuh_ocsf.mapping.<name>``, where
    ``<name>`` is the class's name in :data:`wazuh_ocsf.config.CLASS_NAMES`.

    Each class's module is imported on first use: the hook maps one alert to one class.
    """

    __slots__ = ("_loaded",)

    def __init__(self) -> None:
        self._loaded = {}

    def __getitem__(self, class_uid: int):
        mapper = self._loaded.get(class_uid)
        if mapper is None:
            name = CLASS_NAMES[class_uid]  # KeyError for an unknown class, as a dict would
            module = __import__(f"wazuh_ocsf.mapping.{name}", fromlist=[f"map_{name}"])
            mapper = self._loaded[class_uid] = getattr(module, f"map_{name}")
        return mapper

    def __iter__(self):
        return iter(CLASS_NAMES)

    def __len__(self) -> int:
        return len(CLASS_NAMES)

    def __repr__(self) -> str:
        return f"MAPPERS({', '.join(f'{uid}: map_{name}' for uid, name in CLASS_NAMES.items())})"


# class_uid → mapper; the registry every caller goes through. A test fails when a class
# named in wazuh_ocsf.config, or a *_finding module in this package, is missing here.
MAPPERS = _Mappers()
_LOADED = MAPPERS._loaded


def _surrogate_escape(text: str) -> bool:
    """Whether ``text`` holds a JSON \\u escape of a UTF-16 surrogate (D800–DFFF): the only
    way a decoded alert can hold text that UTF-8 (and so Arrow and Parquet) cannot store.

    Case-insensitive like the escape itself; a match after an escaped backslash is a false
    positive that costs one needless re-encoding, never a wrong result.
    """
    size = len(text)
    for prefix in ("\\ud", "\\uD", "\\Ud", "\\UD"):
        start = text.find(prefix)
        while start >= 0:
            if start + 3 < size and text[start + 3] in "89abcdefABCDEF":
                return True
            start = text.find(prefix, start + 3)
    return False


def map_alert(
    alert: object,
    *,
    class_uid: int = SECURITY_FINDING,
    product_version: str | None = None,
    attack_version: str | None = None,
) -> dict:
    """One Wazuh alert → one OCSF 1.1.0 event of ``class_uid`` (:data:`CLASS_NAMES`).

    Pure: the alert is not changed, and the result shares no mutable object with it.
    ``product_version`` goes to ``metadata.product.version``, ``attack_version`` to every
    ``attacks[].version``. Fields of unexpected types are mapped where that is unambiguous
    and kept in ``unmapped`` anyway; only an alert that cannot be mapped at all (not an
    object, no ``rule`` object, missing or unparseable ``timestamp``, unknown
    ``class_uid``, or a routed class whose alert does not fit it: see
    :mod:`wazuh_ocsf.mapping.routing`) raises, and then always
    :class:`~wazuh_ocsf.errors.AlertError`.
    """
    mapper = _LOADED.get(class_uid) if type(class_uid) is int else None  # no Mapping method call
    if mapper is None and type(class_uid) is int and class_uid in CLASS_NAMES:
        mapper = MAPPERS[class_uid]  # the class's first alert: imports its module
    if mapper is None:
        known = ", ".join(f"{uid} ({name})" for uid, name in CLASS_NAMES.items())
        raise AlertError(f"unknown OCSF class_uid {class_uid!r}: expected one of {known}")
    alert, rule, epoch_ms, offset = parse_alert(alert)
    try:
        return mapper(alert, rule, epoch_ms, offset, product_version, attack_version)
    except AlertError:
        raise
    except Exception as exc:  # the promise is "AlertError or an event", whatever the input
        raise AlertError(f"cannot map alert {alert.get('id')!r}: {type(exc).__name__}: {exc}") from exc


def load_alert(data: bytes | str) -> dict:
    """One alert's JSON text → the alert dict; AlertError when it is not one JSON object.

    Text with lone UTF-16 surrogate escapes (``"\\ud800"``) is decoded with each lone
    surrogate replaced by ``?``: Wazuh does not write them, and UTF-8, Arrow and Parquet
    cannot hold them.
    """
    if type(data) is not str:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise AlertError(f"alert data must be bytes or str, not {type(data).__name__}")
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AlertError(f"alert is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    if not data.strip():
        raise AlertError("alert is empty")
    try:
        alert = json_codec.loads(data)
    except RecursionError:
        raise AlertError("alert is nested too deeply to decode") from None
    except ValueError as exc:
        if hasattr(exc, "lineno"):  # json.JSONDecodeError: malformed JSON, and where
            raise AlertError(f"alert is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        raise AlertError(f"alert is not valid JSON: {exc}") from None  # e.g. an integer too long
    if type(alert) is not dict:
        raise AlertError(f"alert is not a JSON object (got a JSON {type(alert).__name__})")
    if "\\" in data and _surrogate_escape(data):
        text = json_codec.dumps(alert).encode("utf-8", "replace").decode("utf-8")
        alert = json_codec.loads(text)
    return alert
