"""Benchmark the hook as wazuh-integratord runs it: one process per alert, one at a time.

Runs, interleaved so that machine noise hits all of them alike:

* ``bare``  — ``python3 -I -S -c pass`` with the hook's interpreter: the floor of any Python hook;
* ``floor`` — a minimal hook installed the same way (a Python file whose ``#!`` line runs the same
  interpreter with ``-IS``): ``import json``, read the alert file, parse it, append one line
  under an ``fcntl`` lock;
* ``hook <class> <n>``  — ``integrations/custom-wazuh-ocsf`` as the installer installs it (its
  ``#!`` line naming the interpreter, the package in ``<home>/wazuh-ocsf/lib``, the hook's byte-code
  bundle), with integratord's 4.8+ argv and the alerts of the test corpus
  (``tests/data/alerts/*.json``, else the seed sample alerts), for each class the hook can emit
  (the two finding classes, and with ``OCSF_CLASS=auto`` each routed class on the alerts routed
  to it), into a spool holding 0 and ``--backlog`` (10,000) sealed segments (a lake outage).

Then where the hook's time goes: ``-X importtime`` per module (median self time over
``--profile-runs`` runs) and CPU time per phase (imports, settings, read + map + encode, spool
append) of a fresh ``-I -S`` process; the alerts/s that 8 hook processes in parallel sustain
into one spool, and what each ``fsync`` policy costs (per append in-process, and per hook run).

    .venv/bin/python bench/hook_bench.py [--runs 200] [--backlog 10000] [--python PATH] [--dir DIR]

Targets: hook median ≤ 1.4× bare (issue 19; ≤ 1.3× floor from issue 3); hook with the backlog
≤ 1.1× hook without (issue 14). Not part of CI. Use a directory on a real disk (the default is
next to the checkout, not /tmp, which may be tmpfs) so fsync costs what it costs in production.
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
INTEGRATION = REPO / "integrations" / "custom-wazuh-ocsf"
sys.path[:0] = [str(REPO), str(REPO / "installer")]

from wazuh_ocsf_installer import integration  # noqa: E402

from wazuh_ocsf.config import CLASS_NAMES, FINDING_CLASSES, ROUTED_CLASSES  # noqa: E402
from wazuh_ocsf.mapping import load_alert  # noqa: E402
from wazuh_ocsf.mapping.routing import route  # noqa: E402

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


def floor_integration(directory: Path, python: str) -> Path:
    """The floor hook, installed as the real one is (``#!<python> -IS``)."""
    integrations = directory / "integrations"
    integrations.mkdir(parents=True)
    path = integrations / "custom-floor"
    path.write_bytes(integration.shebang(python) + FLOOR_SCRIPT.encode())
    path.chmod(0o755)
    return path


def installed_integration(directory: Path, python: str) -> Path:
    """The integration as the installer writes it, the package in ``<home>/wazuh-ocsf/lib``."""
    integrations = directory / "integrations"
    integrations.mkdir(parents=True)
    path = integrations / "custom-wazuh-ocsf"
    path.write_bytes(integration.render(INTEGRATION.read_bytes(), python))
    path.chmod(0o755)
    (directory / "wazuh-ocsf").mkdir()
    (directory / "wazuh-ocsf" / "lib").symlink_to(REPO)  # holds wazuh_ocsf/, compiled and bundled
    return path


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


CLASSES = tuple(CLASS_NAMES[uid] for uid in (*FINDING_CLASSES, *ROUTED_CLASSES))
#: ``OCSF_CLASS=auto`` with a destination for every routed class: each alert goes to the class that fits it.
AUTO_SETTINGS = {"ocsf_class": "auto", **{f"{CLASS_NAMES[uid]}_source": "bench" for uid in ROUTED_CLASSES}}


def by_class(alerts: list) -> dict:
    """Class name → the alerts the hook maps to it: every alert for a finding class; for a routed
    class, those ``auto`` routes to it (a class no corpus alert fits is left out)."""
    routes = tuple(ROUTED_CLASSES)
    routed = {CLASS_NAMES[uid]: [] for uid in ROUTED_CLASSES}
    for data in alerts:
        class_uid = route(load_alert(data), FINDING_CLASSES[0], routes)
        if class_uid in ROUTED_CLASSES:
            routed[CLASS_NAMES[class_uid]].append(data)
    chosen = {CLASS_NAMES[uid]: list(alerts) for uid in FINDING_CLASSES}
    chosen.update((name, found) for name, found in routed.items() if found)
    return chosen


def class_settings(name: str) -> dict:
    return {"ocsf_class": name} if name in (CLASS_NAMES[uid] for uid in FINDING_CLASSES) else AUTO_SETTINGS


def add_backlog(spool: Path, count: int) -> None:
    """``count`` sealed segments, as flushes failing for days leave them (a few lines each)."""
    segments = spool / "segments"
    segments.mkdir(exist_ok=True)
    for number in range(count):
        (segments / f"bench-20240101T000000Z-{number:010d}.ndjson").write_bytes(b'{"class_uid":2001}\n' * 3)
    (spool / "state").mkdir(exist_ok=True)
    (spool / "state" / "sequence").write_text(f"{count}\n")


def compared_integration(directory: Path, checkout: Path, python: str) -> tuple:
    """Another checkout's integration (e.g. main's) installed as its installer would; (path, extra env).

    Before the integration was one Python file, it was a ``sh`` wrapper running ``<name>.py``,
    told the interpreter by ``$WAZUH_OCSF_PYTHON``.
    """
    source = checkout / "integrations" / "custom-wazuh-ocsf"
    integrations = directory / "integrations"
    integrations.mkdir(parents=True)
    path = integrations / source.name
    extra = {}
    if source.with_name(source.name + ".py").is_file():  # the sh wrapper and its script
        shutil.copy(source.with_name(source.name + ".py"), integrations)
        path.write_bytes(source.read_bytes())
        extra["WAZUH_OCSF_PYTHON"] = python
    else:
        path.write_bytes(integration.render(source.read_bytes(), python))
    path.chmod(0o755)
    (directory / "wazuh-ocsf").mkdir()
    (directory / "wazuh-ocsf" / "lib").symlink_to(checkout)
    return path, extra


def sequential(base: Path, python: str, hook: Path, alerts: list, runs: int, backlog: int, compare=None) -> dict:
    floor = floor_integration(base / "floor", python)
    files = {}
    for name, chosen in by_class(alerts).items():
        files[name] = []
        for index, data in enumerate(chosen):
            path = base / f"custom-wazuh-ocsf-{name}-{index}.alert"
            path.write_bytes(data)
            files[name].append(path)
    envs = {"floor": fresh_home(base, "floor-home")}
    commands = {  # name -> (argv for an alert file, the alert files)
        "bare": (lambda alert: [python, "-I", "-S", "-c", "pass"], files[CLASSES[0]]),
        "floor": (lambda alert: argv_for(floor, alert), files[CLASSES[0]]),
    }
    for ocsf_class in files:
        for segments in (0, backlog):
            name = f"hook {ocsf_class} {segments}"
            envs[name] = fresh_home(base, name.replace(" ", "-"), **class_settings(ocsf_class))
            add_backlog(Path(envs[name]["WAZUH_OCSF_SPOOL_DIR"]), segments)
            commands[name] = (lambda alert: argv_for(hook, alert), files[ocsf_class])
    if compare is not None:  # the other checkout's hook, default class, empty spool
        other, extra = compared_integration(base / "compared", compare, python)
        envs["compared"] = {**fresh_home(base, "compared-home", **class_settings(CLASSES[0])), **extra}
        commands["compared"] = (lambda alert: argv_for(other, alert), files[CLASSES[0]])
    samples = {name: [] for name in commands}
    cpu = {name: [] for name in commands}
    for name, (command, alert_files) in commands.items():  # warm-up: page cache, .pyc files, the spool's usage
        for _ in range(3):
            run_once(command(alert_files[0]), envs.get(name, envs["floor"]))
    names = list(commands)
    for run in range(runs):
        shift = run % len(names)
        for name in names[shift:] + names[:shift]:  # rotate the order: noise hits all alike
            command, alert_files = commands[name]
            wall, used = run_once(command(alert_files[run % len(alert_files)]), envs.get(name, envs["floor"]))
            samples[name].append(wall)
            cpu[name].append(used)
    for name, env in envs.items():
        if name.startswith("hook") or name == "compared":
            spool = Path(env["WAZUH_OCSF_SPOOL_DIR"])
            expected = runs + 3 + 3 * (backlog if name.endswith(f" {backlog}") and backlog else 0)
            if spooled_lines(spool) != expected:
                sys.exit(f"{name} spooled {spooled_lines(spool)} lines, expected {expected}")
    return {name: summary(values) + summary(cpu[name]) for name, values in samples.items()}


PHASES_SCRIPT = """\
import os, sys, time
clock = time.process_time
start = clock()
sys.path.append(sys.argv[1])
from wazuh_ocsf.hook import bundle as hook_bundle
hook_bundle.install()  # as wazuh_ocsf.hook.entry does
bundled = clock()
from wazuh_ocsf.config import load_settings
from wazuh_ocsf.mapping import load_alert, map_alert
from wazuh_ocsf.spool.store import Spool
from wazuh_ocsf.spool.line import encode_event
import wazuh_ocsf.hook.run
imported = clock()
settings = load_settings(wazuh_home=os.environ["WAZUH_OCSF_WAZUH_HOME"])
loaded = clock()
with open(sys.argv[2], "rb") as handle:
    alert = load_alert(handle.read())
line = encode_event(map_alert(alert, class_uid=settings.ocsf_class, product_version=settings.product_version))
mapped = clock()
Spool(settings).append(line)
spooled = clock()
print(start, bundled - start, imported - bundled, loaded - imported, mapped - loaded, spooled - mapped)
"""


BARE_START = "import time; print(time.process_time())"


def profile(base: Path, python: str, hook: Path, alert: bytes, runs: int, backlog: int) -> None:
    """Where the hook's time goes: ``-X importtime`` per module and CPU per phase, medians."""
    env = fresh_home(base, "profile")
    add_backlog(Path(env["WAZUH_OCSF_SPOOL_DIR"]), backlog)
    path = base / "profile.alert"
    path.write_bytes(alert)
    own, other = {}, {}
    phases = []
    for _ in range(runs):
        command = [python, "-X", "importtime", "-I", "-S", *map(str, argv_for(hook, path))]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        for line in result.stderr.splitlines():
            if line.startswith("import time:") and "|" in line and "self [us]" not in line:
                self_us, _cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
                table = own if name.startswith("wazuh_ocsf") else other
                table.setdefault(name, []).append(int(self_us))
        result = subprocess.run(
            [python, "-I", "-S", "-c", PHASES_SCRIPT, str(REPO), str(path)], env=env, capture_output=True, text=True
        )
        if result.returncode != 0:
            sys.exit(f"the phase probe failed: {result.stderr}")
        bare = subprocess.run([python, "-I", "-S", "-c", BARE_START], capture_output=True, text=True, check=True)
        phases.append([float(x) * 1000 for x in result.stdout.split()] + [float(bare.stdout) * 1000])
    medians = {name: statistics.median(values) / 1000 for name, values in {**own, **other}.items()}
    own_total = sum(medians[name] for name in own)
    other_total = sum(medians[name] for name in other)
    print(f"\n-X importtime over {runs} hook runs (median self ms; {backlog} sealed segments in the spool)")
    print(f"  wazuh_ocsf modules: {len(own)}, {own_total:.2f} ms; other modules: {len(other)}, {other_total:.2f} ms")
    for name in sorted(own, key=lambda n: -medians[n]):
        print(f"    {name:<40} {medians[name]:6.2f}")
    heavy = sorted(other, key=lambda n: -medians[n])[:8]
    print("  costliest other modules: " + ", ".join(f"{name} {medians[name]:.2f}" for name in heavy))
    labels = (
        "start (+ compiling the probe)", "bundle index", "imports", "settings", "read+map+encode", "spool append",
        "a bare start, for comparison",
    )
    print(f"CPU per phase of a fresh -I -S process (median ms over {runs} runs)")
    for index, label in enumerate(labels):
        print(f"  {label:<30} {statistics.median(p[index] for p in phases):6.2f}")


def parallel(base: Path, hook: Path, alerts: list, workers: int, per_worker: int, **settings) -> float:
    env = fresh_home(base, f"par-{workers}-{'-'.join(map(str, settings.values())) or 'default'}", **settings)
    files = []
    for index, data in enumerate(alerts):
        path = base / f"par-{index}.alert"
        path.write_bytes(data)
        files.append(path)

    failures = []

    def work(worker: int) -> None:
        for run in range(per_worker):
            alert = files[(worker * per_worker + run) % len(files)]
            result = subprocess.run(argv_for(hook, alert), env=env, stdin=subprocess.DEVNULL, capture_output=True)
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
    from wazuh_ocsf.spool.store import Spool

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
    parser.add_argument("--backlog", type=int, default=10000, help="sealed segments in the backlog spool (10000)")
    parser.add_argument("--profile-runs", type=int, default=30, help="runs for -X importtime and phases (30)")
    parser.add_argument("--python", default=os.environ.get("WAZUH_OCSF_PYTHON") or sys.executable)
    parser.add_argument("--parallel", type=int, default=8, help="parallel hook processes (default 8)")
    parser.add_argument("--per-worker", type=int, default=100, help="alerts per parallel process (default 100)")
    parser.add_argument("--dir", default=str(REPO.parent), help="where to make the temporary spools (a real disk)")
    parser.add_argument(
        "--compare", metavar="CHECKOUT", type=Path, help="also run another checkout's hook (e.g. main's), interleaved"
    )
    args = parser.parse_args()
    python = os.path.realpath(args.python)
    alerts = corpus()
    probe = [python, "-c", "import sys; print(sys.version.split()[0])"]
    version = subprocess.run(probe, capture_output=True, text=True)
    print(f"interpreter {python} (Python {version.stdout.strip()}), {len(alerts)} corpus alerts, {os.cpu_count()} CPUs")
    if os.geteuid() == 0:
        print(
            "running as root: the hook takes a root start's path (it asks wazuh_ocsf.privileges whom to run as,"
            " which imports logging); integratord runs it as wazuh, so run this as an unprivileged user"
        )

    # As the installer does: byte code for this interpreter, and the hook's bundle of it. Run as
    # an unprivileged user (as integratord runs the hook), the checkout's byte code must be made
    # beforehand by its owner: the same two commands.
    for checkout in (REPO, args.compare) if args.compare else (REPO,):
        package = checkout.resolve() / "wazuh_ocsf"
        if os.access(package, os.W_OK):
            subprocess.run([python, "-I", "-m", "compileall", "-q", str(package)], check=True)
            bundler = package / "hook" / "bundle.py"
            if not bundler.is_file():  # a checkout from before the package was grouped by stage
                bundler = package / "hook_bundle.py"
            subprocess.run([python, "-I", "-S", str(bundler)], check=True)
        else:
            print(f"{package} is not writable: using the byte code and hook bundle already there")
    base = Path(tempfile.mkdtemp(prefix="hook-bench-", dir=args.dir))
    try:
        hook = installed_integration(base / "installed", python)
        results = sequential(base, python, hook, alerts, args.runs, args.backlog, args.compare)
        print(f"\nsequential, interleaved, {args.runs} runs each (ms)   wall median   wall p95   cpu median   cpu p95")
        for name, (median, p95, cpu_median, cpu_p95) in results.items():
            print(f"  {name:<38} {median:12.2f} {p95:10.2f} {cpu_median:12.2f} {cpu_p95:9.2f}")
        bare, floor = results["bare"], results["floor"]
        for ocsf_class in (c for c in CLASSES if f"hook {c} 0" in results):
            this, backlogged = results[f"hook {ocsf_class} 0"], results[f"hook {ocsf_class} {args.backlog}"]
            for label, index in (("wall", 0), ("cpu", 2)):
                print(
                    f"  {ocsf_class} {label}: hook / bare = {this[index] / bare[index]:.2f}x (target <= 1.4x), "
                    f"hook / floor = {this[index] / floor[index]:.2f}x, "
                    f"{args.backlog} : 0 segments = {backlogged[index] / this[index]:.2f}x (target <= 1.1x)"
                )
        if "compared" in results:
            compared = results["compared"]
            this = results[f"hook {CLASSES[0]} 0"]
            print(
                f"  {args.compare} ({CLASSES[0]}, 0 segments): its hook / bare = {compared[0] / bare[0]:.2f}x wall, "
                f"{compared[2] / bare[2]:.2f}x cpu; this hook / it = {this[0] / compared[0]:.2f}x wall, "
                f"{this[2] / compared[2]:.2f}x cpu"
            )
        default = results["hook security_finding 0"]
        print(f"  => {1000 / default[0]:.0f} alerts/s through integratord (one hook at a time)")

        profile(base, python, hook, alerts[0], args.profile_runs, args.backlog)

        rate = parallel(base, hook, alerts, args.parallel, args.per_worker)
        print(f"\n{args.parallel} hook processes in parallel into one spool: {rate:.0f} alerts/s")

        print("\nfsync policy   us/append in-process   hook wall median ms   hook cpu median ms")
        line = alerts[0]
        policies = ("never", "rotate", "append")
        envs, walls, cpus = {}, {p: [] for p in policies}, {p: [] for p in policies}
        for policy in policies:
            envs[policy] = fresh_home(base, f"fsync-{policy}", fsync=policy)
        alert = base / "fsync.alert"
        alert.write_bytes(line)
        for run in range(max(30, args.runs // 2)):  # interleaved, like the sequential runs
            for policy in policies[run % 3 :] + policies[: run % 3]:
                wall, used = run_once(argv_for(hook, alert), envs[policy])
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
