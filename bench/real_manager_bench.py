"""Benchmark what a manager really gets: alerts/s through the real ``wazuh-integratord``.

The unmodified Wazuh v4.14.7 integratord (built by ``../shared/wazuh-daemons``) tails
``alerts.json`` of a real home (``home.sh``; wazuh-ocsf installed by ``installer/install.sh``)
and runs one integration process per alert, one at a time. Three integrations get the same real
alerts (``tests/data/real_alerts``: what analysisd made from Wazuh's ruleset tests), interleaved
round by round so that machine noise hits all of them alike:

* ``wazuh-ocsf`` — ``integrations/custom-wazuh-ocsf`` as installed: map to OCSF, append to the spool;
* ``sh-copy``    — a ``sh`` script that only copies the alert file (``cat "$1" >> FILE``): the floor
  of any integration;
* ``py-append``  — a Python hook in custom-wazuh-ocsf's own installed form (a Python file whose
  ``#!`` line runs the installed venv's interpreter with ``-IS``) that only reads the alert file
  and appends it to a file.

With ``--compare CHECKOUT`` (e.g. an export of main), a fourth, ``compared``: that checkout's
hook as its own installer would install it (for a checkout from before the integration was one
Python file: its ``sh`` wrapper running ``custom-wazuh-ocsf.py``), on a byte-compiled and bundled
copy of its package, with the same settings, spool and ``<integration>`` block.

Each round appends ``--alerts`` alerts to ``alerts.json`` with one integration enabled and times
until the last one has been handled. Prints alerts/s per round, the medians and the ratios.

    .venv/bin/python bench/real_manager_bench.py [--alerts 150] [--rounds 3] [--compare CHECKOUT]

Root only; the kit is found as the tests find it (``WAZUH_OCSF_WAZUH_KIT``, ``WAZUH_OCSF_KIT_OUT``,
see ``tests/real_manager/manager_kit.py``). Not part of CI. A home is made under /var/tmp and
removed afterwards (about a minute of setup: home, installer, venv).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from real_manager import manager_kit  # noqa: E402

sys.path.insert(0, str(REPO / "installer"))
from wazuh_ocsf_installer import integration  # noqa: E402

from wazuh_ocsf.spool.store import count_lines  # noqa: E402

ALERTS = REPO / "tests" / "data" / "real_alerts" / "ruleset-v4.14.7.ndjson.gz"
COPY_SCRIPT = '#!/bin/sh\ncat "$1" >> logs/bench-sh-copy.out\n'
# After the #! line of integrations/custom-wazuh-ocsf as installed (the venv's python3 -IS).
PY_SCRIPT = """import sys
with open(sys.argv[1], "rb") as alert:
    data = alert.read()
with open("logs/bench-py-append.out", "ab") as out:
    out.write(data)
"""
BLOCK = """<ossec_config>
  <integration>
    <name>{}</name>
    <alert_format>json</alert_format>
  </integration>
</ossec_config>
"""


def install_script(home: Path, name: str, text: str) -> None:
    path = home / "integrations" / name
    path.write_text(text)
    shutil.chown(path, "root", "wazuh")
    path.chmod(0o750)  # integratord refuses a script its own user can write


def install_compared(manager, checkout: Path) -> None:
    """``checkout``'s integration as ``integrations/custom-compared``, its package beside the home.

    Its hook finds its home from its own file, so that file lives in ``<parent>/compared/integrations``
    with ``wazuh-ocsf/lib`` (the checkout's package, compiled and bundled by the venv's interpreter),
    ``etc/wazuh-ocsf.conf`` (the installed settings, with the home's spool) and ``VERSION.json``.
    """
    home, base = manager.home, manager.home.parent / "compared"
    python = str(home / "wazuh-ocsf" / "venv" / "bin" / "python3")
    lib = base / "wazuh-ocsf" / "lib"
    shutil.copytree(checkout / "wazuh_ocsf", lib / "wazuh_ocsf", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([python, "-I", "-m", "compileall", "-q", str(lib / "wazuh_ocsf")], check=True)
    for bundler in (lib / "wazuh_ocsf" / "hook" / "bundle.py", lib / "wazuh_ocsf" / "hook_bundle.py"):
        if bundler.is_file():  # grouped by stage, or a checkout from before
            subprocess.run([python, "-I", "-S", str(bundler)], check=True)
            break
    (base / "etc").mkdir()
    settings = (home / "etc" / "wazuh-ocsf.conf").read_text()  # the default spool is under its own home
    (base / "etc" / "wazuh-ocsf.conf").write_text(f"{settings.rstrip()}\nWAZUH_OCSF_SPOOL_DIR={manager.spool}\n")
    shutil.copy(home / "VERSION.json", base / "VERSION.json")
    (base / "logs").mkdir()
    shutil.chown(base / "logs", "wazuh", "wazuh")
    (base / "integrations").mkdir()
    source = checkout / "integrations" / manager_kit.INTEGRATION
    script = source.with_name(source.name + ".py")
    if script.is_file():  # the sh wrapper: it runs <its directory>/custom-wazuh-ocsf.py, so point it at ours
        shutil.copy(script, base / "integrations" / script.name)
        wrapper = source.read_text().replace('"$dir/custom-wazuh-ocsf.py"', f'"{base}/integrations/{script.name}"')
        install_script(home, "custom-compared", wrapper)
    else:  # one Python file: it finds its home from __file__, so name the compared one's
        text = integration.render(source.read_bytes(), python).decode()
        where = "os.path.abspath(__file__)"
        if where not in text:
            raise SystemExit(f"--compare: {source} does not find its home from {where}: compare it by hand")
        install_script(home, "custom-compared", text.replace(where, repr(str(base / "integrations" / source.name))))
    for path in [base, *base.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o055)  # readable by wazuh


def spooled(manager) -> int:
    return sum(count_lines(str(segment)) for segment in (manager.spool / "segments").glob("*"))


def lines_in(path: Path) -> int:
    return count_lines(str(path))


def run_round(manager, conf: bytes, alerts: list, count) -> float:
    """Enable one integration (its ossec.conf), replay ``alerts``; seconds until all were handled."""
    manager.ossec_conf.write_bytes(conf)
    before = count()
    with manager_kit.integratord(manager) as daemon:
        started = time.perf_counter()
        daemon.append(alerts)
        deadline = started + 600
        while count() - before < len(alerts):
            if time.perf_counter() > deadline:
                raise SystemExit(f"timed out: {count() - before} of {len(alerts)} handled")
            time.sleep(0.005)
        return time.perf_counter() - started


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=150, help="alerts per round and integration")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", metavar="CHECKOUT", type=Path, help="also another checkout's hook (e.g. main's)")
    args = parser.parse_args(argv)
    missing = manager_kit.missing_part()
    if missing:
        print(f"real_manager_bench: cannot run: {missing}", file=sys.stderr)
        return 2
    with gzip.open(ALERTS, "rt", encoding="utf-8") as handle:
        corpus = [line.rstrip("\n") for line in handle if line.strip()]
    out = manager_kit.build()
    manager = manager_kit.make_manager(out, "bench")
    try:
        home = manager.home
        install_script(home, "custom-sh-copy", COPY_SCRIPT)
        venv_python = str(home / "wazuh-ocsf" / "venv" / "bin" / "python3")
        install_script(home, "custom-py-append", integration.shebang(venv_python).decode() + PY_SCRIPT)
        installed = manager.ossec_conf.read_bytes()  # the installer's custom-wazuh-ocsf block
        original = manager.original_ossec_conf
        subjects = {
            "wazuh-ocsf": (installed, lambda: spooled(manager)),
            "sh-copy": (original + BLOCK.format("custom-sh-copy").encode(),
                        lambda: lines_in(home / "logs" / "bench-sh-copy.out")),
            "py-append": (original + BLOCK.format("custom-py-append").encode(),
                          lambda: lines_in(home / "logs" / "bench-py-append.out")),
        }
        if args.compare:
            install_compared(manager, args.compare.resolve())
            ours = f"<name>{manager_kit.INTEGRATION}</name>".encode()
            subjects["compared"] = (installed.replace(ours, b"<name>custom-compared</name>"), lambda: spooled(manager))
        rates: dict = {name: [] for name in subjects}
        print(f"{args.rounds} rounds x {args.alerts} real alerts per integration, through wazuh-integratord "
              f"v{manager_kit.WAZUH_VERSION} (one process per alert, one at a time)")
        for round_number in range(args.rounds):
            shift = round_number % len(subjects)
            order = list(subjects)[shift:] + list(subjects)[:shift]
            start = (round_number * args.alerts) % max(1, len(corpus) - args.alerts)
            alerts = corpus[start:start + args.alerts]
            for name in order:
                conf, count = subjects[name]
                seconds = run_round(manager, conf, alerts, count)
                rates[name].append(len(alerts) / seconds)
                print(f"  round {round_number + 1} {name:<11} {len(alerts) / seconds:7.1f} alerts/s")
        medians = {name: statistics.median(values) for name, values in rates.items()}
        print("median alerts/s:", ", ".join(f"{name} {rate:.1f}" for name, rate in medians.items()))
        print(f"wazuh-ocsf / sh-copy   = {medians['wazuh-ocsf'] / medians['sh-copy']:.2f}")
        print(f"wazuh-ocsf / py-append = {medians['wazuh-ocsf'] / medians['py-append']:.2f}")
        if "compared" in medians:
            print(f"wazuh-ocsf / compared ({args.compare}) = {medians['wazuh-ocsf'] / medians['compared']:.2f}")
        print(json.dumps({"alerts_per_second": rates, "medians": medians}))
    finally:
        manager.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
