"""Wazuh alert → OCSF 1.1.0 event: pure functions, standard library only, cheap imports.

The hook runs this on every alert, so nothing here does I/O or keeps state, and nothing
imports more than ``json``, ``re`` and ``zlib``.

* :func:`load_alert` — bytes/str → alert dict, or AlertError saying why not.
* :func:`map_alert` — alert dict → OCSF event dict of the chosen class (:data:`MAPPERS`).
* :func:`finding_uid` — the finding's unique ID, derived only from node, id and time.

Events use only OCSF attributes whose Arrow type is int32/int64/string/bool, structs and
lists, plus ``unmapped`` (string → string); no ``json_t`` attribute is ever emitted, so
``wazuh_ocsf.arrow_schema`` holds every event without a per-event transformation.
"""

from __future__ import annotations

import json
import re

from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping.base import finding_uid, parse_alert
from wazuh_ocsf.mapping.detection_finding import map_detection_finding
from wazuh_ocsf.mapping.security_finding import map_security_finding

__all__ = ["CLASS_NAMES", "MAPPERS", "finding_uid", "load_alert", "map_alert"]

SECURITY_FINDING = 2001
DETECTION_FINDING = 2004

# class_uid → mapper; the registry every caller goes through. A test fails when a class
# named in wazuh_ocsf.config, or a *_finding module in this package, is missing here.
MAPPERS = {
    SECURITY_FINDING: map_security_finding,
    DETECTION_FINDING: map_detection_finding,
}
CLASS_NAMES = {SECURITY_FINDING: "security_finding", DETECTION_FINDING: "detection_finding"}

# A JSON \u escape of a UTF-16 surrogate (D800–DFFF): the only way a decoded alert can hold
# text that UTF-8 (and so Arrow and Parquet) cannot store.
_SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F]")


def map_alert(
    alert: object,
    *,
    class_uid: int = SECURITY_FINDING,
    product_version: str | None = None,
    attack_version: str | None = None,
) -> dict:
    """One Wazuh alert → one OCSF 1.1.0 event of ``class_uid`` (2001 or 2004).

    Pure: the alert is not changed, and the result shares no mutable object with it.
    ``product_version`` goes to ``metadata.product.version``, ``attack_version`` to every
    ``attacks[].version``. Fields of unexpected types are mapped where that is unambiguous
    and kept in ``unmapped`` anyway; only an alert that cannot be mapped at all (not an
    object, no ``rule`` object, missing or unparseable ``timestamp``, unknown
    ``class_uid``) raises, and then always :class:`~wazuh_ocsf.errors.AlertError`.
    """
    mapper = MAPPERS.get(class_uid) if type(class_uid) is int else None
    if mapper is None:
        raise AlertError(
            f"unknown OCSF class_uid {class_uid!r}: expected 2001 (security_finding) or 2004 (detection_finding)"
        )
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
        alert = json.loads(data)
    except json.JSONDecodeError as exc:
        raise AlertError(f"alert is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise AlertError("alert is nested too deeply to decode") from None
    if type(alert) is not dict:
        raise AlertError(f"alert is not a JSON object (got a JSON {type(alert).__name__})")
    if _SURROGATE_ESCAPE.search(data) is not None:
        text = json.dumps(alert, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")
        alert = json.loads(text)
    return alert
