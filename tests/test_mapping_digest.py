"""The mapper's exact output over both corpora, for every class: one SHA-256 per class.

The golden files compare the hand-made corpus's events as parsed JSON (key order and
``1`` vs ``1.0`` vs ``true`` do not count there), and the real corpus is checked only for
properties. This test pins the bytes: every alert of the hand-made corpus
(``tests/data/alerts``) and of the real one (``tests/data/real_alerts``) is mapped to every
class, with the golden settings and with none, and each event's compact JSON (key order
included; or the AlertError's message, for an alert a routed class refuses) goes into the
class's digest. A speed change of the mapper must leave every digest as it is.

After a deliberate mapping change (or a regenerated real corpus), regenerate it with
``WAZUH_OCSF_UPDATE_GOLDEN=1 pytest tests/test_mapping_digest.py`` together with the golden
files. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from ocsf_events import CLASS_UIDS, SETTINGS
from test_corpus import load_corpus
from test_real_corpus import ALERTS as REAL_ALERTS

from wazuh_ocsf import json_codec
from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping import CLASS_NAMES, map_alert

DIGESTS = os.path.join(os.path.dirname(__file__), "data", "mapper_digests.json")
UPDATE = os.environ.get("WAZUH_OCSF_UPDATE_GOLDEN") == "1"
ALERTS = [alert for _slug, alert in sorted(load_corpus().items())] + REAL_ALERTS


def _digest(class_uid: int) -> dict:
    """``{"events": n, "refused": n, "sha256": …}`` of every alert mapped to ``class_uid``."""
    digest = hashlib.sha256()
    events = refused = 0
    for settings in (SETTINGS, {}):
        for alert in ALERTS:
            try:
                text = json_codec.dumps(map_alert(alert, class_uid=class_uid, **settings))
                events += 1
            except AlertError as exc:
                text = f"AlertError: {exc}"
                refused += 1
            digest.update(text.encode("utf-8", "surrogatepass") + b"\n")
    return {"events": events, "refused": refused, "sha256": digest.hexdigest()}


@pytest.mark.parametrize("class_uid", CLASS_UIDS, ids=lambda uid: CLASS_NAMES[uid])
def test_mapper_output_is_unchanged_byte_for_byte(class_uid: int) -> None:
    name = CLASS_NAMES[class_uid]
    found = _digest(class_uid)
    stored = {}
    if os.path.exists(DIGESTS):
        with open(DIGESTS, encoding="utf-8") as handle:
            stored = json.load(handle)
    if UPDATE:
        stored[name] = found
        with open(DIGESTS, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    assert name in stored, f"no digest for {name}: run with WAZUH_OCSF_UPDATE_GOLDEN=1"
    assert found["events"] > 0
    assert found == stored[name]
