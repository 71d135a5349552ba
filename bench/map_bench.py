"""Mapper throughput on one core, side by side: json.loads alone, the mapper alone, loads + map.

Run: ``.venv/bin/python bench/map_bench.py [--rounds 7] [--seconds 0.5]``. The input is the
test corpus (tests/data/alerts/*.json) as alerts.json holds it, one compact JSON line per
alert; "loads + map" is what the hook does per alert (``load_alert`` then ``map_alert``);
"auto" routes each alert first (``WAZUH_OCSF_OCSF_CLASS=auto`` with every route active), so
a quarter of the corpus goes through each routed class's mapper.
Every figure is the median of several rounds, in alerts per second of this process's CPU
time (``time.process_time``), so other load on the machine does not skew it. Targets: the mapper
alone ≥ 20,000 alerts/s; loads + map ≥ 0.5 × loads alone. Exit status 1 if a target is missed.

On a shared machine CPU time still varies by up to 2× between runs. Instructions do not: with
``--loops N`` the bench only maps the corpus N times, so that under callgrind the difference
between two loop counts is the mapper's own cost, e.g. instructions per alert of class 2004 =
(Ir at ``--loops 8`` − Ir at ``--loops 2``) / (6 × 34)::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/map_bench.py --loops 8 --class 2004
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from wazuh_ocsf.config import ROUTED_CLASSES  # noqa: E402
from wazuh_ocsf.mapping import load_alert, map_alert  # noqa: E402
from wazuh_ocsf.mapping.routing import route  # noqa: E402

MAPPER_TARGET = 20_000
RATIO_TARGET = 0.5


def corpus_lines() -> list:
    paths = sorted((REPO_ROOT / "tests" / "data" / "alerts").glob("*.json"))
    return [json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False).encode() for path in paths]


def rate(work, items: list, seconds: float) -> float:
    """Alerts per second of ``work`` over ``items``, repeated for at least ``seconds``."""
    done = 0
    start = time.process_time()
    while True:
        work(items)
        done += len(items)
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return done / elapsed


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds per measurement (median is reported)")
    parser.add_argument("--seconds", type=float, default=0.5, help="minimum duration of one round")
    parser.add_argument("--loops", type=int, help="no timing: only map the corpus this many times (run under "
                        "valgrind --tool=callgrind, whose instruction counts other load does not skew)")
    parser.add_argument("--class", dest="class_uid", default="2001", choices=("2001", "2004", "auto"),
                        help="the class --loops maps (default 2001)")
    args = parser.parse_args(argv)

    lines = corpus_lines()
    alerts = [json.loads(line) for line in lines]
    size = sum(len(line) for line in lines) / len(lines)

    def loads(items):
        for line in items:
            json.loads(line)

    def choose(class_uid):
        """The class of an alert: ``class_uid``, or with "auto" the route the hook takes (every route active)."""
        if class_uid != "auto":
            return lambda alert: class_uid
        return lambda alert: route(alert, 2004, ROUTED_CLASSES)

    def mapper(class_uid):
        class_of = choose(class_uid)

        def work(items):
            for alert in items:
                map_alert(alert, class_uid=class_of(alert))

        return work

    def loads_and_map(class_uid):
        class_of = choose(class_uid)

        def work(items):
            for line in items:
                alert = load_alert(line)
                map_alert(alert, class_uid=class_of(alert))

        return work

    if args.loops is not None:
        work = mapper(args.class_uid if args.class_uid == "auto" else int(args.class_uid))
        for _ in range(args.loops):
            work(alerts)
        return 0

    cases = [
        ("json.loads alone", loads, lines),
        ("mapper alone, 2001", mapper(2001), alerts),
        ("mapper alone, 2004", mapper(2004), alerts),
        ("mapper alone, auto", mapper("auto"), alerts),
        ("loads + map, 2001", loads_and_map(2001), lines),
        ("loads + map, 2004", loads_and_map(2004), lines),
        ("loads + map, auto", loads_and_map("auto"), lines),
    ]
    medians = {}
    for _ in range(2):  # warm-up: imports, caches, CPU frequency
        for _name, work, items in cases:
            work(items)
    samples: dict = {name: [] for name, _work, _items in cases}
    for _ in range(args.rounds):  # interleaved, so a noisy neighbour hurts every case alike
        for name, work, items in cases:
            samples[name].append(rate(work, items, args.seconds))
    for name, values in samples.items():
        medians[name] = statistics.median(values)

    print(f"Python {sys.version.split()[0]}, {len(lines)} corpus alerts, {size:,.0f} bytes on average, "
          f"median of {args.rounds} rounds of ≥ {args.seconds:g} s of CPU time, one thread")
    for name, value in medians.items():
        spread = f"{min(samples[name]):>9,.0f} – {max(samples[name]):>9,.0f}"
        print(f"  {name:<22} {value:>10,.0f} alerts/s   (rounds: {spread})")
    loads_rate = medians["json.loads alone"]
    ok = True
    for class_uid in (2001, 2004, "auto"):
        mapper_rate = medians[f"mapper alone, {class_uid}"]
        ratio = medians[f"loads + map, {class_uid}"] / loads_rate
        mapper_ok, ratio_ok = mapper_rate >= MAPPER_TARGET, ratio >= RATIO_TARGET
        ok = ok and mapper_ok and ratio_ok
        print(f"  class {class_uid}: mapper {mapper_rate:,.0f}/s = {mapper_rate / MAPPER_TARGET:.2f} × the target "
              f"(≥ {MAPPER_TARGET:,}: {'met' if mapper_ok else 'MISSED'}); loads + map = {ratio:.2f} × loads alone "
              f"(target ≥ {RATIO_TARGET}: {'met' if ratio_ok else 'MISSED'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
