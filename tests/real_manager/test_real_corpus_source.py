"""``tests/data/real_alerts/`` is what the real chain makes from Wazuh's ruleset tests today.

With ``WAZUH_OCSF_UPDATE_REAL_CORPUS=1`` the session's ruleset run is written there instead
(then read the diff of tests/test_real_corpus.py's results before committing it).
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter

from test_real_corpus import REAL_CORPUS, load_real_corpus

UPDATE = os.environ.get("WAZUH_OCSF_UPDATE_REAL_CORPUS") == "1"


def test_real_corpus_matches_the_chain(ruleset_run):
    if UPDATE:
        lines = "".join(json.dumps(a, ensure_ascii=False, separators=(",", ":")) + "\n" for a in ruleset_run.alerts)
        with gzip.GzipFile(REAL_CORPUS, "wb", mtime=0) as handle:
            handle.write(lines.encode("utf-8"))
    stored = load_real_corpus()
    # ids, times and host names differ from run to run; which rules fire on which lines does not
    assert Counter(a["rule"]["id"] for a in ruleset_run.alerts) == Counter(a["rule"]["id"] for a in stored), (
        "the chain now makes other alerts than tests/data/real_alerts: regenerate it with "
        "WAZUH_OCSF_UPDATE_REAL_CORPUS=1 (see its docstring)"
    )
