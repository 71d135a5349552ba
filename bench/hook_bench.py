"""Benchmark the hook as wazuh-integratord runs it: one process per alert, one at a time.

Runs, interleaved so that machine noise hits all of them alike:

* ``bare``  — ``python3 -I -S -c pass`` with the hook's interpreter: the floor of any Python hook;
* ``floor`` — a minimal hook in the same wrapper style and interpreter: ``import json``, read the
  alert file, parse it, append one line under an ``fcntl`` lock;
* ``hook``  — the real ``integrations/custom-wazuh-ocsf`` with integratord's 4.8+ argv and the
  alerts of the test corpus (``tests/data/alerts/*.json``, else the seed sample alerts).

Then the alerts/s that 8 hook processes in parallel sustain into one spool, and what each
``fsync`` policy costs (per append in-process, and per hook run).

    .venv/bin/python bench/hook_bench.py [--runs 200] [--python PATH] [--dir DIR]

Targets (issue 3): hook median ≤ 2.5× bare, ≤ 1.3× floor. Not part of CI. Use a directory on a
real disk (the default is next to the checkout, not /tmp, which may be tmpfs) so fsync costs
what it costs in production.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WRAPPER = REPO / "integrations" / "custom-wazuh-ocsf"
SEED = REPO.parent / "shared" / "wazuh" / "seed_sample_alerts.ndjson"

FLOOR_SCRIPT = '''\
import fcntl
import json
import os
import sys

with open(sys.argv[1], "rb") as handle:
    alert = json.loads(handle.read())
line = (json.dumps(alert, separators=(",", ":")) + "\\n").encode()
spool = os.environ["WAZUH_OCSF_SPOOL_DIR"]
lock = os.open(os.path.join(spool, ".lock"), os.O_RDONLY | os.O_CREAT, 0o640)
fcntl.flock(lock, fcntl.LOCK_EX)
fd = os.open(os.path.join(spool, "floor.ndjson"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
os.write(fd, line)
os.close(fd)
os.close(lock)
'''


def corpus() -> list:
    """Alerts as integratord writes them: one compact JSON line each."""
    alerts = []
    for path in sorted((REPO / "tests" / "data" / "alerts").glob("*.json")):
        try:
            alerts.append(json.loads(path.read_bytes()))
        except ValueError:
            continue
    if not alerts and SEED.is_file():
        alerts = [json.loads(line) for line in SEED.read_bytes().splitlines() if line.strip()]
    if not alerts:
        sys.exit("no alerts: tests/data/alerts/*.json and the seed sample alerts are both missing")
    return [(json.dumps(a, separators=(",", ":")) + "\n").encode() for a in alerts]


def floor_wrapper(directory: Path) -> Path:
    """The floor hook, in the same wrapper style as the real one (sh + exec -I -S)."""
    integrations = directory / "integrations"
    integrations.mkdir(parents=True)
    wrapper = integrations / "custom-floor"
    text = WRAPPER.read_text().replace("custom-wazuh-ocsf.py", "custom-floor.py")
    wrapper.write_text(text)
    wrapper.chmod(0o755)
    (integrations / "custom-floor.py").write_text(FLOOR_SCRIPT)
    return wrapper


def argv_for(command: Path, alert: Path) -> list:
    return [str(command), str(alert), "", "", "", "", "10", "3", "> /dev/null 2>&1"]


def run_once(argv: list, env: dict) -> tuple:
    """Run like integratord (no shell, stdin /dev/null, output to a pipe it drains); (wall, cpu) seconds."""
    read_end, write_end = os.pipe()
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, write_end, 1),
        (os.POSIX_SPAWN_DUP2, write_end, 2),
        (os.POSIX_SPAWN_CLOSE, read_end),
    ]
    started = time.perf_counter()
    pid = os.posix_spawn(argv[0], [str(a) for a in argv], env, file_actions=actions)
    os.close(write_end)
    output = b""
    while chunk := os.read(read_end, 65536):
        output += chunk
    os.close(read_end)
    _pid, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{argv[0]} exited {code}: {output.decode(errors='replace')}")
    return elapsed, usage.ru_utime + usage.ru_stime


def summary(samples: list) -> tuple:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def fresh_home(base: Path, name: str, **settings) -> dict:
    home = base / name
    (home / "logs").mkdir(parents=True)
    (home / "spool").mkdir()
    env = dict(os.environ)
    env.update(
        WAZUH_OCSF_WAZUH_HOME=str(home),
        WAZUH_OCSF_SPOOL_DIR=str(home / "spool"),
        WAZUH_OCSF_CONFIG=str(home / "none.conf"),
        WAZUH_OCSF_NODE_NAME="bench",
    )
    for key, value in settings.items():
        env["WAZUH_OCSF_" + key.upper()] = str(value)
    return env


def spooled_lines(spool: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in (spool / "segments").iterdir() if not p.name.startswith("."))


def sequential(base: Path, python: str, alerts: list, runs: int) -> dict:
    floor = floor_wrapper(base / "floor")
    alert_files = []
    for index, data in enumerate(alerts):
        path = base / f"custom-wazuh-ocsf-{index}.alert"
        path.write_bytes(data)
        alert_files.append(path)
    env = fresh_home(base, "seq")
    env["WAZUH_OCSF_PYTHON"] = python
    commands = {
        "bare": lambda alert: [python, "-I", "-S", "-c", "pass"],
        "floor": lambda alert: argv_for(floor, alert),
        "hook": lambda alert: argv_for(WRAPPER, alert),
    }
    samples = {name: [] for name in commands}
    cpu = {name: [] for name in commands}
    for command in commands.values():  # warm-up: page cache, .pyc files
        for _ in range(3):
            run_once(command(alert_files[0]), env)
    names = list(commands)
    for run in range(runs):
        alert = alert_files[run % len(alert_files)]
        for name in names[run % 3 :] + names[: run % 3]:  # rotate the order: noise hits all alike
            wall, used = run_once(commands[name](alert), env)
            samples[name].append(wall)
            cpu[name].append(used)
    spool = Path(env["WAZUH_OCSF_SPOOL_DIR"])
    expected = runs + 3
    if spooled_lines(spool) != expected:
        sys.exit(f"the hook spooled {spooled_lines(spool)} lines, expected {expected}")
    return {name: summary(values) + summary(cpu[name]) for name, values in samples.items()}


def parallel(base: Path, python: str, alerts: list, workers: int, per_worker: int, **settings) -> float:
    env = fresh_home(base, f"par-{workers}-{'-'.join(map(str, settings.values())) or 'default'}", **settings)
    env["WAZUH_OCSF_PYTHON"] = python
    files = []
    for index, data in enumerate(alerts):
        path = base / f"par-{index}.alert"
        path.write_bytes(data)
        files.append(path)

    failures = []

    def work(worker: int) -> None:
        for run in range(per_worker):
            alert = files[(worker * per_worker + run) % len(files)]
            result = subprocess.run(argv_for(WRAPPER, alert), env=env, stdin=subprocess.DEVNULL, capture_output=True)
            if result.returncode != 0:
                failures.append(f"exit {result.returncode}: {result.stderr.decode(errors='replace').strip()}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        sys.exit(f"{len(failures)} parallel hook runs failed, first: {failures[0]}")
    lines = spooled_lines(Path(env["WAZUH_OCSF_SPOOL_DIR"]))
    if lines != workers * per_worker:
        sys.exit(f"parallel run spooled {lines} lines, expected {workers * per_worker}")
    return workers * per_worker / elapsed


def append_cost(base: Path, policy: str, lines: int, line: bytes) -> float:
    """µs per Spool.append in-process with a given fsync policy (rotating every 1 MiB)."""
    sys.path.insert(0, str(REPO))
    from wazuh_ocsf.config import load_settings
    from wazuh_ocsf.spool import Spool

    directory = base / f"append-{policy}"
    directory.mkdir()
    settings = load_settings(
        environ={
            "WAZUH_OCSF_SPOOL_DIR": str(directory),
            "WAZUH_OCSF_FSYNC": policy,
            "WAZUH_OCSF_SEGMENT_MAX_BYTES": "1M",
            "WAZUH_OCSF_NODE_NAME": "bench",
            "WAZUH_OCSF_CONFIG": str(base / "none.conf"),
        },
        wazuh_home=str(base),
    )
    spool = Spool(settings)
    started = time.perf_counter()
    for _ in range(lines):
        spool.append(line)
    return (time.perf_counter() - started) / lines * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="sequential runs of each command (default 200)")
    parser.add_argument("--python", default=os.environ.get("WAZUH_OCSF_PYTHON") or sys.executable)
    parser.add_argument("--parallel", type=int, default=8, help="parallel hook processes (default 8)")
    parser.add_argument("--per-worker", type=int, default=100, help="alerts per parallel process (default 100)")
    parser.add_argument("--dir", default=str(REPO.parent), help="where to make the temporary spools (a real disk)")
    args = parser.parse_args()
    python = os.path.realpath(args.python)
    alerts = corpus()
    probe = [python, "-c", "import sys; print(sys.version.split()[0])"]
    version = subprocess.run(probe, capture_output=True, text=True)
    print(f"interpreter {python} (Python {version.stdout.strip()}), {len(alerts)} corpus alerts, {os.cpu_count()} CPUs")

    base = Path(tempfile.mkdtemp(prefix="hook-bench-", dir=args.dir))
    try:
        results = sequential(base, python, alerts, args.runs)
        print(f"\nsequential, {args.runs} runs each (ms)   wall median   wall p95   cpu median   cpu p95")
        for name, (median, p95, cpu_median, cpu_p95) in results.items():
            print(f"  {name:<30} {median:12.2f} {p95:10.2f} {cpu_median:12.2f} {cpu_p95:9.2f}")
        for label, index in (("wall", 0), ("cpu", 2)):
            hook, bare, floor = (results[name][index] for name in ("hook", "bare", "floor"))
            print(
                f"  {label}: hook / bare = {hook / bare:.2f}x (target <= 2.5x), "
                f"hook / floor = {hook / floor:.2f}x (target <= 1.3x)"
            )
        print(f"  => {1000 / results['hook'][0]:.0f} alerts/s through integratord (one hook at a time)")

        rate = parallel(base, python, alerts, args.parallel, args.per_worker)
        print(f"\n{args.parallel} hook processes in parallel into one spool: {rate:.0f} alerts/s")

        print("\nfsync policy   us/append in-process   hook wall median ms   hook cpu median ms")
        line = alerts[0]
        policies = ("never", "rotate", "append")
        envs, walls, cpus = {}, {p: [] for p in policies}, {p: [] for p in policies}
        for policy in policies:
            envs[policy] = fresh_home(base, f"fsync-{policy}", fsync=policy)
            envs[policy]["WAZUH_OCSF_PYTHON"] = python
        alert = base / "fsync.alert"
        alert.write_bytes(line)
        for run in range(max(30, args.runs // 2)):  # interleaved, like the sequential runs
            for policy in policies[run % 3 :] + policies[: run % 3]:
                wall, used = run_once(argv_for(WRAPPER, alert), envs[policy])
                walls[policy].append(wall)
                cpus[policy].append(used)
        for policy in policies:
            cost = append_cost(base, policy, 2000, line)
            wall, cpu = summary(walls[policy])[0], summary(cpus[policy])[0]
            print(f"  {policy:<12} {cost:14.1f} {wall:21.2f} {cpu:20.2f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
