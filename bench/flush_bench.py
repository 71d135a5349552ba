"""Benchmark: the flusher against the seed guide's naive Lambda, events/s and peak memory.

Builds a spool of N events (default 1,000,000) from templated spool lines of the test corpus
(each alert mapped once, then copied with a unique finding uid and a time spread over a week),
written straight into sealed segments of the default size. Then, each in its own child
process with pyarrow limited to one CPU thread and one I/O thread:

* the flusher flushes the whole spool to the local sink (``wazuh_ocsf.flush.flusher.flush``);
* the naive baseline does what the seed Lambda does on the first 100,000 events:
  ``json.loads`` per line, ``pa.Table.from_pylist`` with an inferred schema, one ``write_table``.
  It reads the same events as whole OCSF JSON (the previous release's full spool line format):
  the lean line is the flusher's own saving, and a naive reader of lean lines would write
  tables without the attributes the flusher puts back.

Prints events/s, the ratio (target ≥ 6×), peak RSS from the child's rusage (target ≤ 300 MB at
1,000,000 events) and events/s per core against the goal of 100,000. ``--runs R`` repeats the
baseline and the flush, interleaved, on copies of the same spools and prints each run's ratio
and their range; ``--rss-only`` runs the flush once and prints only its peak RSS;
``--formats`` flushes the same ``--events`` as lean lines and as the previous release's full
lines, ``--rounds`` times interleaved, and prints the median ratio of their rates.

Then small segments: the same ``--small-events`` events (default 1,000) flushed from one
segment each and from a single segment, each in its own child, ``--rounds`` times interleaved;
prints the median ratio of the wall times (target ≤ 3×: batching makes the many-segment
case one conversion).

    .venv/bin/python bench/flush_bench.py [--events N] [--baseline-events M] [--small-events K]
        [--rounds R] [--runs R] [--rss-only] [--formats] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

NODE = "bench-node"
DAY_MS = 86_400_000
START_MS = 1713744000000  # 2024-04-22T00:00:00Z
TEMPLATE_MAX_BYTES = 8192  # leave out the corpus's 60 KiB outlier: it is not a typical alert
TARGET_RATIO = 6.0
TARGET_SMALL_RATIO = 3.0
TARGET_RSS_MB = 300
GOAL_PER_CORE = 100_000


def _env(workdir: Path) -> dict:
    return {
        "WAZUH_OCSF_CONFIG": str(workdir / "no-such.conf"),
        "WAZUH_OCSF_WAZUH_HOME": str(workdir),
        "WAZUH_OCSF_SPOOL_DIR": str(workdir / "spool"),
        "WAZUH_OCSF_NODE_NAME": NODE,
        "WAZUH_OCSF_SECURITY_FINDING_SOURCE": "wazuh",
        "WAZUH_OCSF_REGION": "eu-west-1",
        "WAZUH_OCSF_ACCOUNT_ID": "123456789012",
        "WAZUH_OCSF_SEGMENT_MAX_AGE": "0",
    }


def templates(full: bool = False) -> list:
    """Spool lines of the corpus (class 2001) split around their finding uid and time; lean
    lines, or with ``full`` the previous release's full lines (the whole OCSF event)."""
    from flush_support import corpus_events
    from spool_support import previous_release_line

    from wazuh_ocsf.spool.line import encode_event

    parts = []
    for event in corpus_events(2001):
        line = previous_release_line(event) if full else encode_event(event)
        if len(line) > TEMPLATE_MAX_BYTES:
            continue
        uid = json.dumps(event["finding"]["uid"]).encode()
        time_field = b'"time":%d' % event["time"]
        pieces = re.split(re.escape(uid) + b"|" + re.escape(time_field), line)
        markers = re.findall(re.escape(uid) + b"|" + re.escape(time_field), line)
        parts.append((pieces, [m == uid for m in markers]))
    return parts


def build_spool(workdir: Path, count: int, segment_bytes: int, *, full: bool = False) -> tuple:
    """Write ``count`` events as sealed segments (lean lines, or full ones); (bytes, segments)."""
    segments = workdir / "spool" / "segments"
    segments.mkdir(parents=True)
    parts = templates(full)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    total, sequence, buffer, size = 0, 0, [], 0

    def seal() -> None:
        nonlocal sequence, buffer, size
        path = segments / f"{NODE}-{stamp}-{sequence:010d}.ndjson"
        path.write_bytes(b"".join(buffer))
        sequence, buffer, size = sequence + 1, [], 0

    span = 7 * DAY_MS
    for number in range(count):
        pieces, is_uid = parts[number % len(parts)]
        uid = b'"bench:%d"' % number
        # A week of alerts in arrival order, out of order by up to a minute (agents interleave).
        when = b'"time":%d' % (START_MS + number * span // count + (number * 2_654_435_761) % 60_000)
        out = [pieces[0]]
        for piece, uid_marker in zip(pieces[1:], is_uid):
            out.append(uid if uid_marker else when)
            out.append(piece)
        line = b"".join(out)
        if size + len(line) > segment_bytes and buffer:
            seal()
        buffer.append(line)
        size += len(line)
        total += len(line)
    if buffer:
        seal()
    return total, sequence


def child_flush(workdir: Path) -> None:
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    from wazuh_ocsf.config import load_settings
    from wazuh_ocsf.flush.flusher import flush
    from wazuh_ocsf.sinks.local import LocalSink

    settings = load_settings(environ=_env(workdir))
    started, cpu = time.perf_counter(), time.process_time()
    result = flush(settings, [LocalSink(settings, workdir / "lake")])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        json.dumps(
            {
                "events": result.events,
                "seconds": seconds,
                "cpu": cpu,
                "objects": result.objects,
                "bytes": result.bytes,
                "ok": result.ok,
                "failures": result.failures[:3],
            }
        )
    )


def child_baseline(workdir: Path, count: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    paths = sorted((workdir / "spool" / "segments").glob("*.ndjson"))
    started, cpu = time.perf_counter(), time.process_time()
    rows = []
    for path in paths:  # what the seed Lambda does with its batch
        with open(path, "rb") as handle:
            for line in handle:
                rows.append(json.loads(line))
                if len(rows) == count:
                    break
        if len(rows) == count:
            break
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, workdir / "baseline.parquet")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        json.dumps(
            {
                "events": len(rows),
                "seconds": seconds,
                "cpu": cpu,
                "bytes": (workdir / "baseline.parquet").stat().st_size,
            }
        )
    )


def small_segments(root: Path, count: int, rounds: int) -> None:
    """``count`` events in ``count`` segments against the same in one segment, interleaved; prints the ratio."""
    import statistics

    ratios = []
    for number in range(rounds):
        walls = {}
        for label, segment_bytes in (("many", 1), ("one", 1 << 40)):
            workdir = root / f"small-{label}-{number}"
            build_spool(workdir, count, segment_bytes)
            result, _, _ = run_child(["--child", "flush", "--workdir", str(workdir)])
            if not result["ok"] or result["events"] != count:
                raise SystemExit(f"SMALL-SEGMENT FLUSH INCOMPLETE: {result}")
            walls[label] = result
            shutil.rmtree(workdir, ignore_errors=True)
        ratio = walls["many"]["seconds"] / walls["one"]["seconds"]
        ratios.append(ratio)
        print(
            f"small segments, round {number + 1}: {count:,} events in {count:,} segments "
            f"{walls['many']['seconds']:.2f} s wall ({walls['many']['cpu']:.2f} s CPU), in 1 segment "
            f"{walls['one']['seconds']:.2f} s wall ({walls['one']['cpu']:.2f} s CPU): {ratio:.2f}x"
        )
    median = statistics.median(ratios)
    verdict = "PASS" if median <= TARGET_SMALL_RATIO else "FAIL"
    print(f"small segments: median {median:.2f}x (target <= {TARGET_SMALL_RATIO:.0f}x): {verdict}")


def line_formats(root: Path, count: int, segment_bytes: int, rounds: int) -> None:
    """The same events flushed from lean lines and from the previous release's full lines, interleaved."""
    import statistics

    ratios = []
    for number in range(rounds):
        rates = {}
        for label, full in (("full", True), ("lean", False)):
            workdir = root / f"format-{label}-{number}"
            build_spool(workdir, count, segment_bytes, full=full)
            result, _, _ = run_child(["--child", "flush", "--workdir", str(workdir)])
            if not result["ok"] or result["events"] != count:
                raise SystemExit(f"FLUSH INCOMPLETE: {result}")
            rates[label] = count / result["cpu"]
            shutil.rmtree(workdir, ignore_errors=True)
        ratios.append(rates["lean"] / rates["full"])
        print(
            f"line formats, round {number + 1}: full lines {rates['full']:,.0f} events/s per core, "
            f"lean lines {rates['lean']:,.0f}: {ratios[-1]:.2f}x"
        )
    print(f"lean vs full lines: median {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)")


def run_child(args: list) -> tuple:
    """Run this script as a child; (its JSON line, its peak RSS in MB, its wall seconds)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, cwd=REPO_ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    output = proc.stdout.read().decode()
    proc.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child {args[:2]} failed with status {status}:\n{output}")
    return json.loads(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024, wall


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=100_000)
    parser.add_argument("--segment-bytes", type=int, default=32 * 1024 * 1024, help="segment size (default 32 MiB)")
    parser.add_argument("--small-events", type=int, default=1_000, help="events of the small-segment case")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the small-segment case")
    parser.add_argument("--runs", type=int, default=1, help="baseline/flush pairs, interleaved (default 1)")
    parser.add_argument("--rss-only", action="store_true", help="only the flush's peak RSS at --events")
    parser.add_argument("--formats", action="store_true", help="only lean vs the previous release's lines")
    parser.add_argument("--workdir", help="where to build the spool (default: a temporary directory, removed)")
    parser.add_argument("--child", choices=["flush", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        workdir = Path(args.workdir)
        child_flush(workdir) if args.child == "flush" else child_baseline(workdir, args.baseline_events)
        return 0

    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="flush-bench-"))
    try:
        if args.formats:
            line_formats(root, args.events, args.segment_bytes, args.rounds)
            return 0
        flush_dir, base_dir = root / "flush", root / "baseline"
        started = time.perf_counter()
        spool_bytes, segments = build_spool(flush_dir, args.events, args.segment_bytes)
        print(
            f"spool: {args.events:,} events, {spool_bytes / 1e6:,.0f} MB in {segments} segments "
            f"({spool_bytes / args.events:,.0f} B/event), built in {time.perf_counter() - started:.1f} s"
        )
        if args.rss_only:
            fast, fast_rss, fast_wall = run_child(["--child", "flush", "--workdir", str(flush_dir)])
            if not fast["ok"] or fast["events"] != args.events:
                print(f"FLUSH INCOMPLETE: {fast}")
                return 1
            print(f"flusher: {fast['events']:,} events, {fast['cpu']:.1f} s CPU ({fast_wall:.1f} s wall)")
            print(_rss_verdict(fast_rss, args.events))
            return 0
        base_bytes, _ = build_spool(base_dir, args.baseline_events, args.segment_bytes, full=True)
        print(f"baseline spool: {args.baseline_events:,} events as whole OCSF JSON "
              f"({base_bytes / args.baseline_events:,.0f} B/event)")
        shutil.copytree(flush_dir / "spool", root / "pristine")
        ratios = []
        for run in range(args.runs):
            if run:
                shutil.rmtree(flush_dir)
                shutil.copytree(root / "pristine", flush_dir / "spool")
            ratio, fast, fast_rss = _compare(base_dir, flush_dir, args, spool_bytes)
            if ratio is None:
                return 1
            ratios.append(ratio)
        if args.runs > 1:
            verdict = "PASS" if min(ratios) >= TARGET_RATIO else "FAIL"
            print(f"ratio per event over {args.runs} runs: {min(ratios):.1f}x-{max(ratios):.1f}x "
                  f"(target >= {TARGET_RATIO:.0f}x in every run): {verdict}")
        small_segments(root, args.small_events, args.rounds)
        return 0
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)


def _rss_verdict(rss_mb: float, events: int) -> str:
    return (
        f"peak RSS at {events:,} events: {rss_mb:,.0f} MB (target <= {TARGET_RSS_MB} MB"
        f"{' at 1,000,000' if events != 1_000_000 else ''}): {'PASS' if rss_mb <= TARGET_RSS_MB else 'FAIL'}"
    )


def _compare(base_dir: Path, flush_dir: Path, args, spool_bytes: int) -> tuple:
    """One run of the baseline then the flusher; (ratio, flush result, flush peak RSS), ratio None on failure."""
    base, base_rss, _ = run_child(
        ["--child", "baseline", "--workdir", str(base_dir), "--baseline-events", str(args.baseline_events)]
    )
    fast, fast_rss, fast_wall = run_child(["--child", "flush", "--workdir", str(flush_dir)])
    if not fast["ok"] or fast["events"] != args.events:
        print(f"FLUSH INCOMPLETE: {fast}")
        return None, fast, fast_rss
    # Rates per CPU second of the measured work (the machine may be shared); wall clock too.
    base_rate, fast_rate = base["events"] / base["cpu"], fast["events"] / fast["cpu"]
    ratio = fast_rate / base_rate
    print(
        f"baseline (json.loads + from_pylist + write_table): {base['events']:,} events, "
        f"{base['cpu']:.1f} s CPU ({base['seconds']:.1f} s wall) = {base_rate:,.0f} events/s per core, "
        f"peak RSS {base_rss:,.0f} MB"
    )
    print(
        f"flusher (pyarrow JSON reader, explicit schema):   {fast['events']:,} events, "
        f"{fast['cpu']:.1f} s CPU ({fast['seconds']:.1f} s wall, {fast_wall:.1f} s with start-up) = "
        f"{fast_rate:,.0f} events/s per core, peak RSS {fast_rss:,.0f} MB; "
        f"{fast['objects']} objects, {fast['bytes'] / 1e6:,.1f} MB Parquet"
    )
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"ratio per event: {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x): {verdict}")
    print(_rss_verdict(fast_rss, args.events))
    print(
        f"events/s per core: {fast_rate:,.0f} (goal {GOAL_PER_CORE:,}: {fast_rate / GOAL_PER_CORE:.0%} of it; "
        f"{spool_bytes / fast['cpu'] / 1e6:,.0f} MB of spool per CPU second)"
    )
    return ratio, fast, fast_rss


if __name__ == "__main__":
    sys.exit(main())
