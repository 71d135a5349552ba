"""Benchmark the lag measurement of ``wazuh-ocsf status`` against a full scan of ``alerts.json``.

``status`` must tell how far the hook path is behind ``alerts.json`` without its cost growing
with the file: :func:`wazuh_ocsf.operations.lag.measure` reads the file backwards from its end (at most
16 MiB) and only the end of the newest spool segments. The baseline is what a naive
measurement does: read the whole file and count the alerts newer than the position (with
``alert_time_ms``, the same per-line parse). Both run side by side on the same home, for a
small and a large ``alerts.json`` with the same 200 alerts behind; medians of ``--runs`` runs.

    .venv/bin/python bench/lag_bench.py [--alerts 20000,200000] [--runs 7] [--dir DIR]

Target: the lag measurement takes about the same time whatever the file's size (ratio of the
large file's median to the small one's near 1), while the full scan grows with it. Not part of CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from alert_tree import alert, line  # noqa: E402

from wazuh_ocsf.config import load_settings  # noqa: E402
from wazuh_ocsf.mapping import map_alert  # noqa: E402
from wazuh_ocsf.operations import lag  # noqa: E402
from wazuh_ocsf.readers.alerts import alert_time_ms  # noqa: E402
from wazuh_ocsf.spool.line import encode_event  # noqa: E402
from wazuh_ocsf.spool.store import Spool  # noqa: E402

BEHIND = 200
BLOCK = """<ossec_config><integration><name>custom-wazuh-ocsf</name><level>3</level>
<alert_format>json</alert_format></integration></ossec_config>
"""


def make_home(root: Path, count: int):
    """A home whose alerts.json holds ``count`` alerts; the hook spooled all but the last BEHIND."""
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "ossec.conf").write_text(BLOCK)
    (root / "logs" / "alerts").mkdir(parents=True)
    env = {
        "WAZUH_OCSF_WAZUH_HOME": str(root),
        "WAZUH_OCSF_CONFIG": str(root / "none.conf"),
        "WAZUH_OCSF_SPOOL_DIR": str(root / "spool"),
    }
    settings = load_settings(environ=env)
    spool = Spool(settings, create=True)
    end = datetime.now(timezone.utc)
    step = timedelta(milliseconds=10)
    with open(root / "logs" / "alerts" / "alerts.json", "wb") as handle:
        for number in range(count):
            item = alert(end - (count - number) * step, number)
            handle.write(line(item))
            if number >= count - BEHIND - 50 and number < count - BEHIND:
                spool.append(encode_event(map_alert(item, class_uid=2001)))
    return settings


def full_scan(settings) -> int:
    """The baseline: every line of alerts.json parsed, counting those after the position."""
    position, _ = lag.hook_position(settings)
    behind = 0
    with open(Path(settings.wazuh_home) / "logs" / "alerts" / "alerts.json", "rb") as handle:
        for raw in handle:
            if alert_time_ms(raw) > position:
                behind += 1
    return behind


def timed(function, runs: int) -> tuple:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", default="20000,200000", help="comma-separated alerts.json sizes in alerts")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", default=str(REPO.parent), help="where the homes are built (a real disk)")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="wazuh-ocsf-lag-bench-", dir=args.dir))
    try:
        rows = []
        for count in (int(c) for c in args.alerts.split(",")):
            settings = make_home(base / str(count), count)
            size = os.path.getsize(Path(settings.wazuh_home) / "logs" / "alerts" / "alerts.json")
            measured, data = timed(lambda s=settings: lag.measure(s), args.runs)
            scanned, behind = timed(lambda s=settings: full_scan(s), max(1, args.runs // 2))
            assert data["behind_alerts"] == behind == BEHIND, (data, behind)
            rows.append((count, size, measured, scanned))
        print(f"{'alerts.json':>22}  {'lag.measure':>12}  {'full scan':>10}  {'scan/measure':>12}")
        for count, size, measured, scanned in rows:
            print(f"{count:>9} alerts {size / 2**20:6.1f} MiB  {measured * 1000:9.1f} ms  "
                  f"{scanned * 1000:7.0f} ms  {scanned / measured:11.1f}×")
        first, last = rows[0], rows[-1]
        print(f"growth from {first[0]} to {last[0]} alerts: lag.measure {last[2] / first[2]:.2f}×, "
              f"full scan {last[3] / first[3]:.2f}× (target: lag.measure near 1×)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
