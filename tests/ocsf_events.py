"""Helpers shared by the mapping, OCSF-validation and Arrow-schema tests (not a test module).

The corpus comes from ``test_corpus.load_corpus()``; events are mapped with the fixed
settings below, so the golden files do not depend on the machine.
"""

from __future__ import annotations

from pathlib import Path

from test_corpus import load_corpus

from wazuh_ocsf.config import FINDING_CLASSES, ROUTED_CLASSES
from wazuh_ocsf.mapping import CLASS_NAMES, map_alert
from wazuh_ocsf.mapping.routing import fitting_class

EXPECTED_DIR = Path(__file__).parent / "data" / "expected"
SETTINGS = {"product_version": "4.14.7", "attack_version": "v16.1"}
CLASS_UIDS = tuple(sorted(CLASS_NAMES))


def corpus_slugs(class_uid: int) -> list:
    """The corpus alerts a class maps: all for a finding class, those routing sends there for the others."""
    corpus = load_corpus()
    if class_uid in FINDING_CLASSES:
        return sorted(corpus)
    assert class_uid in ROUTED_CLASSES, class_uid
    return sorted(slug for slug, alert in corpus.items() if fitting_class(alert) == class_uid)


#: (slug, class_uid) of every corpus event: each alert in both finding classes and in its routed class.
CASES = [(slug, class_uid) for class_uid in CLASS_UIDS for slug in corpus_slugs(class_uid)]


def map_corpus(class_uid: int) -> dict:
    """slug → OCSF event of ``class_uid`` for every corpus alert of that class (:func:`corpus_slugs`)."""
    corpus = load_corpus()
    return {slug: map_alert(corpus[slug], class_uid=class_uid, **SETTINGS) for slug in corpus_slugs(class_uid)}


def strip_nulls(value: object) -> object:
    """``value`` without the None members of its dicts, recursively (how Parquet gives back absent fields)."""
    if isinstance(value, dict):
        return {key: strip_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [strip_nulls(item) for item in value]
    return value


def rows_to_events(rows: list) -> list:
    """``Table.to_pylist()`` rows → OCSF events: nulls removed, ``unmapped`` pairs back to a dict."""
    events = []
    for row in rows:
        if row.get("unmapped") is not None:
            row["unmapped"] = dict(row["unmapped"])
        events.append(strip_nulls(row))
    return events


def parquet_round_trip(events: list, class_uid: int, directory: Path) -> list:
    """events → :func:`events_to_table` → Parquet file → read back → events."""
    import pyarrow.parquet as pq

    from wazuh_ocsf.flush.arrow_schema import events_to_table, schema_for

    table = events_to_table(events, class_uid)
    path = directory / f"{CLASS_NAMES[class_uid]}.parquet"
    pq.write_table(table, path)
    back = pq.read_table(path, schema=schema_for(class_uid))
    assert back.schema.equals(schema_for(class_uid)), "Parquet changed the schema"
    return rows_to_events(back.to_pylist())


def scalars(value: object, path: str = "") -> list:
    """Every scalar leaf of a JSON value as ``(path, value)``."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in scalars(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in scalars(item, f"{path}[{index}]")]
    return [(path, value)]


def ocsf_validators():
    """``get(class_uid, profiles)`` → a Draft 2020-12 validator of that OCSF 1.1.0 class and profiles,
    generated with the PyPI package ``ocsf-json-schema`` and cached."""
    import jsonschema
    import ocsf_json_schema

    embedded = ocsf_json_schema.OcsfJsonSchemaEmbedded(ocsf_json_schema.get_ocsf_schema(version="1.1.0"))
    cache: dict = {}

    def get(class_uid: int, profiles: tuple):
        if (class_uid, profiles) not in cache:
            schema = embedded.get_class_schema(CLASS_NAMES[class_uid], profiles=list(profiles))
            jsonschema.Draft202012Validator.check_schema(schema)
            cache[class_uid, profiles] = jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.FormatChecker()
            )
        return cache[class_uid, profiles]

    return get
