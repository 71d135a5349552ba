"""What the module evidence (CloudTrail, Office 365, Sysmon) costs the mapper, against a baseline.

Run: ``.venv/bin/python bench/evidence_bench.py --baseline ../main [--pairs 4] [--seconds 0.3]``.
The input is the real-alert corpus (``tests/data/real_alerts/ruleset-v4.14.7.ndjson.gz``), split
into the alerts that have the module fields (``data.aws``, ``data.office365``, Sysmon's
``data.win``) and all others. Each pair of runs maps both sets in both finding classes with this
checkout's mapper and with the baseline checkout's (fresh processes, interleaved, so machine noise
hits both alike); figures are alerts per second of process CPU time, the median of five rounds per
run, and the ratio is the median over pairs of this checkout ÷ baseline. Only the module alerts
should pay; the others should stay at 1.0 within noise. Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "data" / "real_alerts" / "ruleset-v4.14.7.ndjson.gz"

# Runs in a fresh interpreter with the tree under test first on sys.path.
WORKER = """
import gzip, json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from wazuh_ocsf.mapping import map_alert
seconds = float(sys.argv[3])
alerts = [json.loads(line) for line in gzip.open(sys.argv[2], "rt")]
def module(alert):
    data = alert.get("data") or {}
    system = (data.get("win") or {}).get("system") or {}
    return "aws" in data or "office365" in data or system.get("providerName") == "Microsoft-Windows-Sysmon"
sets = {"module": [a for a in alerts if module(a)], "other": [a for a in alerts if not module(a)]}
out = {}
for name, items in sets.items():
    for class_uid in (2001, 2004):
        rates = []
        for _ in range(5):
            start, done = time.process_time(), 0
            while time.process_time() - start < seconds:
                for alert in items:
                    map_alert(alert, class_uid=class_uid)
                done += len(items)
            rates.append(done / (time.process_time() - start))
        out[f"{name} alerts, {class_uid}"] = statistics.median(rates)
out["sizes"] = {name: len(items) for name, items in sets.items()}
print(json.dumps(out))
"""


def run(tree: Path, seconds: float) -> dict:
    result = subprocess.run([sys.executable, "-c", WORKER, str(tree), str(CORPUS), str(seconds)],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, type=Path, help="a checkout to compare with (e.g. main)")
    parser.add_argument("--pairs", type=int, default=4, help="interleaved pairs of runs (default 4)")
    parser.add_argument("--seconds", type=float, default=0.3, help="minimum duration of one round")
    args = parser.parse_args(argv)
    ours, base = [], []
    for _ in range(args.pairs):
        base.append(run(args.baseline.resolve(), args.seconds))
        ours.append(run(REPO, args.seconds))
    sizes = ours[0].pop("sizes")
    for row in (*ours[1:], *base):
        row.pop("sizes")
    print(f"{sizes['module']} module alerts, {sizes['other']} others; alerts/s (median of pairs), "
          "ratio this ÷ baseline")
    for key in ours[0]:
        mine = statistics.median(row[key] for row in ours)
        theirs = statistics.median(row[key] for row in base)
        ratio = statistics.median(a[key] / b[key] for a, b in zip(ours, base))
        print(f"  {key:<22} baseline {theirs:>8,.0f}   this {mine:>8,.0f}   ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
