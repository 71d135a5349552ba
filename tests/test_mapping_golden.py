"""Golden tests: every corpus alert, in both finding classes and in the class routing gives it,
equals its expected OCSF event as a whole.

The expected events live in ``tests/data/expected/<slug>.<class>.json``. After a deliberate
mapping change, regenerate them with ``WAZUH_OCSF_UPDATE_GOLDEN=1 pytest tests/test_mapping_golden.py``
and read the diff before committing it. Standard library only (runs under Python 3.9 too).
"""

from __future__ import annotations

import json
import os

import pytest
from ocsf_events import CASES, EXPECTED_DIR, SETTINGS, scalars
from test_corpus import load_corpus

from wazuh_ocsf.mapping import CLASS_NAMES, map_alert

CORPUS = load_corpus()
UPDATE = os.environ.get("WAZUH_OCSF_UPDATE_GOLDEN") == "1"


def golden_path(slug: str, class_uid: int):
    return EXPECTED_DIR / f"{slug}.{CLASS_NAMES[class_uid]}.json"


@pytest.mark.parametrize(("slug", "class_uid"), CASES)
def test_event_equals_golden(slug: str, class_uid: int) -> None:
    event = map_alert(CORPUS[slug], class_uid=class_uid, **SETTINGS)
    path = golden_path(slug, class_uid)
    if UPDATE:
        EXPECTED_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.is_file(), f"no golden file {path.name}: run with WAZUH_OCSF_UPDATE_GOLDEN=1, then read it"
    assert json.loads(path.read_text(encoding="utf-8")) == event


def test_no_golden_without_a_corpus_alert() -> None:
    expected = {golden_path(slug, class_uid).name for slug, class_uid in CASES}
    stale = sorted(path.name for path in EXPECTED_DIR.glob("*.json") if path.name not in expected)
    assert stale == [], "golden files whose alert left the corpus"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


@pytest.mark.parametrize(("slug", "class_uid"), CASES)
def test_every_alert_value_appears_in_the_event(slug: str, class_uid: int) -> None:
    """Nothing is lost: each non-empty scalar of the alert is (part of) some value of its event."""
    event = map_alert(CORPUS[slug], class_uid=class_uid, **SETTINGS)
    haystack = "\x00".join(_text(value) for _path, value in scalars(event))
    missing = [
        (path, value)
        for path, value in scalars(CORPUS[slug])
        if value is not None
        and value != ""
        and _text(value) not in haystack
        # a string inside a list is JSON-encoded with that list in unmapped
        and json.dumps(value, ensure_ascii=False)[1:-1] not in haystack
    ]
    assert missing == []


@pytest.mark.parametrize(("slug", "class_uid"), CASES)
def test_event_has_no_nulls_or_empty_values(slug: str, class_uid: int) -> None:
    event = map_alert(CORPUS[slug], class_uid=class_uid, **SETTINGS)
    assert _empties(event) == []


def _empties(value: object, path: str = "") -> list:
    """Paths of None, "", [] and {} anywhere in ``value`` (OCSF events omit such attributes)."""
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _empties(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _empties(item, f"{path}[{index}]")]
    return []
