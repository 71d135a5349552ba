"""Benchmark ``wazuh-ocsf follow`` against the hook path and against bare JSON decoding.

Three rates, in alerts per second, over the same alert lines (the test corpus, each alert
given a distinct ``id`` and ``timestamp``):

* ``loads+dumps`` — ``json.dumps(json.loads(line))`` of every line in one Python thread: the
  floor of any Python program that reads and writes the alerts;
* ``hook`` — the real ``integrations/custom-wazuh-ocsf`` run once per alert the way
  wazuh-integratord runs it (one process at a time, waiting for each);
* ``follow`` — ``wazuh-ocsf follow`` as the service runs it: the lines are appended to
  ``alerts.json`` at once and the clock stops when the follower's saved offset reaches the end
  of the file (every alert mapped and in the spool). With ``--workers`` 1 and auto.

Then one follow worker's own work, in this process, rounds interleaved (CPU time, medians):
``map_block`` (what each follow and backfill worker runs on a block of lines) with the JSON
it uses (orjson when installed) and with the standard library's, against loads+dumps.

    .venv/bin/python bench/follow_bench.py [--alerts 20000] [--hook-runs 300] [--dir DIR]
    .venv/bin/python bench/follow_bench.py --per-worker-only [--alerts 20000] [--rounds 5]

Targets (issues 8 and 14): follow ≥ 100× hook, ≥ 0.4× loads+dumps; one worker ≥ 0.5×
loads+dumps. Not part of CI. Use a directory on a real disk (the default is next to the
checkout, not /tmp).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WRAPPER = REPO / "integrations" / "custom-wazuh-ocsf"


def alert_lines(count: int) -> list:
    """``count`` distinct alert lines cycling through the corpus, compact, as analysisd writes them."""
    templates = []
    for path in sorted((REPO / "tests" / "data" / "alerts").glob("*.json")):
        templates.append(json.loads(path.read_bytes()))
    if not templates:
        sys.exit("no corpus alerts in tests/data/alerts")
    base = 1713795646  # 2024-04-22T14:20:46Z
    lines = []
    for number in range(count):
        alert = dict(templates[number % len(templates)])
        moment = base + number // 50
        alert["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{number % 1000:03d}+0000"
        alert["id"] = f"{moment}.{number}"
        alert = {"timestamp": alert.pop("timestamp"), **alert}
        lines.append(json.dumps(alert, separators=(",", ":")).encode() + b"\n")
    return lines


def loads_dumps_rate(lines: list, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for line in lines:
            json.dumps(json.loads(line))
        best = min(best, time.perf_counter() - started)
    return len(lines) / best


def per_worker(lines: list, rounds: int) -> None:
    """map_block per CPU-second, with orjson (if installed) and with the standard library, vs loads+dumps."""
    from wazuh_ocsf import fast_json, json_codec, mapping
    from wazuh_ocsf.readers.pipeline import MapOptions, map_block

    blob = b"".join(lines)
    options = MapOptions(class_uid=2001)
    fast = (fast_json.load_alert, fast_json.dumps)
    stdlib = (mapping.load_alert, json_codec.dumps)

    def mapped(codec: tuple) -> float:
        fast_json.load_alert, fast_json.dumps = codec
        try:
            started = time.process_time()
            result = map_block(blob, options)
            cpu = time.process_time() - started
        finally:
            fast_json.load_alert, fast_json.dumps = fast
        if len(result.lines) != len(lines):
            sys.exit(f"map_block mapped {len(result.lines)} of {len(lines)} lines")
        return len(lines) / cpu

    def floor() -> float:
        started = time.process_time()
        for line in lines:
            json.dumps(json.loads(line))
        return len(lines) / (time.process_time() - started)

    rates: dict = {"loads+dumps": [], f"worker ({fast_json.BACKEND})": [], "worker (json)": []}
    ratios: dict = {key: [] for key in list(rates)[1:]}
    for _ in range(rounds):
        base = floor()
        rates["loads+dumps"].append(base)
        for key, codec in zip(ratios, (fast, stdlib)):
            rate = mapped(codec)
            rates[key].append(rate)
            ratios[key].append(rate / base)
    for key, values in rates.items():
        print(f"per worker: {key:18} {statistics.median(values):10,.0f} alerts per CPU-second (median of {rounds})")
    for key, values in ratios.items():
        ratio = statistics.median(values)
        verdict = "PASS" if ratio >= 0.5 else "FAIL"
        print(f"per worker: {key:18} = {ratio:.2f}x loads+dumps (target >= 0.5x): {verdict}")


def environment(home: Path, **settings) -> dict:
    env = dict(os.environ)
    env.update(
        WAZUH_OCSF_WAZUH_HOME=str(home),
        WAZUH_OCSF_SPOOL_DIR=str(home / "spool"),
        WAZUH_OCSF_CONFIG=str(home / "none.conf"),
        WAZUH_OCSF_NODE_NAME="bench",
        WAZUH_OCSF_SPOOL_MAX_BYTES="20G",
        PYTHONPATH=str(REPO),
    )
    env.update({"WAZUH_OCSF_" + key.upper(): str(value) for key, value in settings.items()})
    return env


def make_home(base: Path, name: str) -> Path:
    home = base / name
    (home / "logs" / "alerts").mkdir(parents=True)
    (home / "spool").mkdir()
    return home


def spooled_lines(home: Path) -> int:
    segments = home / "spool" / "segments"
    return sum(p.read_bytes().count(b"\n") for p in segments.iterdir() if not p.name.startswith("."))


def follow_rate(base: Path, lines: list, workers: str, run: int) -> tuple:
    """(alerts per second of wall clock, CPU seconds of the follower and its workers)."""
    home = make_home(base, f"follow-{workers}-{run}")
    live = home / "logs" / "alerts" / "alerts.json"
    live.write_bytes(b"")
    env = environment(home, follow_workers=workers)
    command = [sys.executable, "-m", "wazuh_ocsf.cli", "follow", "--poll", "0.01"]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    state = home / "spool" / "state" / "follow.json"
    while not state.exists():
        if process.poll() is not None:
            sys.exit(f"follow exited early: {process.stderr.read().decode(errors='replace')}")
        time.sleep(0.01)
    data = b"".join(lines)
    started = time.perf_counter()
    with open(live, "ab") as handle:
        handle.write(data)
    while True:
        try:
            offset = json.loads(state.read_bytes()).get("offset")
        except ValueError:
            offset = None  # read between the temp write and the rename
        if offset == len(data):
            break
        if process.poll() is not None:
            sys.exit(f"follow exited: {process.stderr.read().decode(errors='replace')}")
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    if process.returncode != 0:
        sys.exit(f"follow exited {process.returncode}: {err.decode(errors='replace')}")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    spooled = spooled_lines(home)
    if spooled != len(lines):
        sys.exit(f"follow spooled {spooled} lines, expected {len(lines)}")
    shutil.rmtree(home)
    return len(lines) / elapsed, cpu


def hook_rate(base: Path, lines: list, runs: int) -> float:
    home = make_home(base, "hook")
    env = environment(home)
    env["WAZUH_OCSF_PYTHON"] = env.get("WAZUH_OCSF_PYTHON") or sys.executable
    files = []
    for index, line in enumerate(lines[:50]):
        path = base / f"custom-wazuh-ocsf-{index}.alert"
        path.write_bytes(line)
        files.append(path)

    def once(path: Path) -> None:
        argv = [str(WRAPPER), str(path), "", "", "", "", "10", "3", "> /dev/null 2>&1"]
        result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
        if result.returncode != 0:
            sys.exit(f"hook exited {result.returncode}: {result.stderr.decode(errors='replace')}")

    for path in files[:3]:  # warm-up: page cache, .pyc files
        once(path)
    started = time.perf_counter()
    for run in range(runs):
        once(files[run % len(files)])
    elapsed = time.perf_counter() - started
    if spooled_lines(home) != runs + 3:
        sys.exit(f"the hook spooled {spooled_lines(home)} lines, expected {runs + 3}")
    return runs / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=20000, help="alert lines for follow and loads+dumps")
    parser.add_argument("--hook-runs", type=int, default=300, help="sequential hook runs (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="follow runs per worker setting (median reported)")
    parser.add_argument("--per-worker-only", action="store_true", help="only one worker's work, in this process")
    parser.add_argument("--dir", default=str(REPO.parent), help="where to make the temporary homes (a real disk)")
    args = parser.parse_args()

    from wazuh_ocsf.config import load_settings

    auto = load_settings(environ={"WAZUH_OCSF_CONFIG": "/nonexistent"}, wazuh_home="/nonexistent").follow_workers
    lines = alert_lines(args.alerts)
    size = sum(map(len, lines))
    print(
        f"{len(lines)} alert lines, {size / 1024**2:.1f} MiB (mean {size // len(lines)} bytes), "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    per_worker(lines, max(args.rounds, 3))
    if args.per_worker_only:
        return 0
    base = Path(tempfile.mkdtemp(prefix="follow-bench-", dir=args.dir))
    try:
        floor = loads_dumps_rate(lines)
        started = time.process_time()
        loads_dumps_rate(lines, rounds=1)
        floor_cpu = len(lines) / (time.process_time() - started)
        print(f"loads+dumps      {floor:10,.0f} alerts/s ({floor_cpu:,.0f} per CPU-second)")
        hook = hook_rate(base, lines, args.hook_runs)
        print(f"hook             {hook:10,.1f} alerts/s  ({args.hook_runs} runs, one process per alert)")
        results = {}
        for workers in ("1", str(auto)) if auto > 1 else ("1",):
            rates, ratios, cpu_ratios = [], [], []
            for run in range(args.rounds):
                # loads+dumps right before and after each run: other load hits both alike
                before = loads_dumps_rate(lines[:5000], rounds=1)
                rate, cpu = follow_rate(base, lines, workers, run)
                after = loads_dumps_rate(lines[:5000], rounds=1)
                rates.append(rate)
                ratios.append(rate / ((before + after) / 2))
                cpu_ratios.append((len(lines) / cpu) / floor_cpu)
            results[workers] = (statistics.median(rates), statistics.median(ratios), statistics.median(cpu_ratios))
            print(
                f"follow workers={workers}  {results[workers][0]:10,.0f} alerts/s  "
                f"(median of {args.rounds}: {', '.join(f'{r:,.0f}' for r in rates)}); "
                f"{results[workers][1]:.2f}x loads+dumps measured around each run; "
                f"per CPU-second {results[workers][2]:.2f}x"
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    workers = max(results, key=lambda key: results[key][0])
    best = results[workers]
    print(f"follow / hook        = {best[0] / hook:8.1f}x   (target >= 100x; workers={workers})")
    print(f"follow / loads+dumps = {best[1]:8.2f}x   (target >= 0.4x; wall clock, workers={workers})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
