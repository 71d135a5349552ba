"""The real Wazuh manager for tests and benchmarks: build, home, install, run (not a test module).

``../shared/wazuh-daemons`` (the kit) builds the unmodified Wazuh v4.14.7 ``wazuh-analysisd``
and ``wazuh-integratord`` offline, makes a manager home with real owners and modes
(``home.sh``) and runs the chain log lines → analysisd → ``logs/alerts/alerts.json`` →
integratord → ``integrations/custom-*`` (``run-chain.sh``). This module drives it and installs
wazuh-ocsf into the home with the project's own ``installer/install.sh``, as an administrator
would. The fixtures in ``conftest.py`` beside it wrap it for pytest; ``bench/`` uses it directly.

Environment:
    WAZUH_OCSF_WAZUH_KIT   the kit directory (default: ``<repo>/../shared/wazuh-daemons``)
    WAZUH_OCSF_KIT_OUT     build.sh's OUT_DIR (default: ``<repo>/.cache/wazuh-kit``, git-ignored;
                           built on first use, about 3 minutes on 2 cores, seconds afterwards)
    WAZUH_OCSF_REQUIRE_ALL=1   (tests/conftest.py) a missing part fails the tests instead of skipping them
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KIT_ENV = "WAZUH_OCSF_WAZUH_KIT"
OUT_ENV = "WAZUH_OCSF_KIT_OUT"
DEFAULT_KIT = REPO.parent / "shared" / "wazuh-daemons"
DEFAULT_OUT = REPO / ".cache" / "wazuh-kit"
WAZUH_VERSION = "4.14.7"
#: Where homes are made: outside /tmp (integratord gets a private tmpfs /tmp), traversable by ``wazuh``.
HOMES_PARENT = Path("/var/tmp")
INTEGRATION = "custom-wazuh-ocsf"
#: The interpreter the installed venv is made from: must be executable by user wazuh
#: (pyenv's under /root is not). ``--python`` of the installer.
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
TIMEOUT = 900


class KitError(RuntimeError):
    """A step of the real-manager setup failed (the message names the step and shows its output)."""


def kit_dir() -> Path:
    return Path(os.environ.get(KIT_ENV) or DEFAULT_KIT)


def out_dir() -> Path:
    return Path(os.environ.get(OUT_ENV) or DEFAULT_OUT)


def system_python() -> str | None:
    """A Python 3.9+ that user ``wazuh`` can execute (the installer's ``--python``), or None."""
    for candidate in SYSTEM_PYTHONS:
        if os.access(candidate, os.X_OK) and os.stat(candidate).st_mode & 0o001:
            return candidate
    return None


def missing_part() -> str | None:
    """Why the real manager cannot run here (naming the missing part), or None when it can."""
    if os.geteuid() != 0:
        return "not root: the Wazuh daemons start as root and drop to user wazuh"
    kit = kit_dir()
    if not (kit / "build.sh").is_file():
        return f"no wazuh-daemons kit at {kit} (set {KIT_ENV}, or put ../shared beside the checkout)"
    built = all((out_dir() / "bin" / name).is_file() for name in ("wazuh-analysisd", "wazuh-integratord"))
    if not built and shutil.which("apt-get") is None:
        return f"no apt-get to install the daemons' build dependencies (and nothing built in {out_dir()})"
    for tool in ("unshare", "mount", "runuser", "useradd"):
        if shutil.which(tool) is None:
            return f"no {tool} command (util-linux/passwd): needed to run the daemons as Wazuh does"
    if system_python() is None:
        return f"no system Python the wazuh user can execute (tried {', '.join(SYSTEM_PYTHONS)})"
    return None


def _run(command: list, what: str, *, env: dict | None = None, timeout: float = TIMEOUT, **kwargs):
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, env=env, timeout=timeout, check=False, **kwargs
    )
    if result.returncode != 0:
        raise KitError(f"{what} failed (exit {result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def build(out: Path | None = None) -> Path:
    """``build.sh OUT_DIR`` (idempotent: seconds when already built); the OUT_DIR."""
    out = out or out_dir()
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([kit_dir() / "build.sh", out], f"building the Wazuh daemons into {out}", timeout=1800)
    return out


def ruleset_tests(out: Path) -> Path:
    """Wazuh's ``ruleset/testing/tests`` directory of the built sources."""
    return out / "src" / f"wazuh-{WAZUH_VERSION}" / "ruleset" / "testing" / "tests"


def ruleset_lines(out: Path, target: Path) -> Path:
    """Every ``log … pass`` line of every ruleset test ``.ini``, as analysisd queue messages, in ``target``."""
    inis = sorted(ruleset_tests(out).glob("*.ini"))
    result = _run([kit_dir() / "ini_to_lines.py", "--format", "queue", *inis], "ini_to_lines.py")
    target.write_text(result.stdout, encoding="utf-8")
    return target


def new_home_dir(prefix: str) -> Path:
    """A fresh directory for a manager home: outside /tmp, every parent searchable by ``wazuh``."""
    parent = Path(tempfile.mkdtemp(prefix=f"wazuh-ocsf-{prefix}-", dir=HOMES_PARENT))
    parent.chmod(0o755)
    return parent


@dataclass
class Manager:
    """A manager home made by ``home.sh`` with wazuh-ocsf installed by ``installer/install.sh``."""

    home: Path
    out: Path
    #: Where the installer links the ``wazuh-ocsf`` command (not /usr/local/bin: tests leave no trace).
    bin_dir: Path
    #: The installer arguments :meth:`restore` goes back to (besides no filters).
    base_args: tuple = ()
    #: The local sink's directory, when the fixture configured one.
    output_dir: Path | None = None
    #: ``etc/ossec.conf`` as home.sh wrote it, before the installer touched it.
    original_ossec_conf: bytes = b""

    @property
    def alerts_json(self) -> Path:
        return self.home / "logs" / "alerts" / "alerts.json"

    @property
    def ossec_conf(self) -> Path:
        return self.home / "etc" / "ossec.conf"

    @property
    def config(self) -> Path:
        return self.home / "etc" / "wazuh-ocsf.conf"

    @property
    def spool(self) -> Path:
        return self.home / "wazuh-ocsf" / "spool"

    @property
    def command(self) -> Path:
        """The installed ``wazuh-ocsf`` (the installer's venv), as the flush timer runs it."""
        return self.home / "wazuh-ocsf" / "venv" / "bin" / "wazuh-ocsf"

    def install(self, *args: str) -> subprocess.CompletedProcess:
        """Run ``installer/install.sh --home HOME --python SYSTEM --scheduler none …`` as root (KitError on failure)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WAZUH_OCSF", "PYTHON"))}
        command = ["sh", REPO / "installer" / "install.sh", "--home", self.home, "--bin-dir", self.bin_dir,
                   "--python", system_python(), "--scheduler", "none", *args]
        return _run(command, "installer/install.sh " + " ".join(args), env=env)

    def restore(self) -> None:
        """Re-run the installer back to ``base_args``: settings file rewritten, no ossec.conf filters."""
        self.install("--reset-config", "--level", "", "--rule-id", "", "--group-filter", "", *self.base_args)

    def _cli_command(self, args: tuple, env: dict | None) -> tuple:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("WAZUH_OCSF", "PYTHON", "AWS_"))}
        full_env.update(env or {})
        return [self.command, "--config", self.config, *args], full_env

    def cli(self, *args: str, env: dict | None = None, check: bool = True, timeout: float = 600):
        """Run the installed ``wazuh-ocsf --config etc/wazuh-ocsf.conf ARGS`` as root (it drops to wazuh)."""
        command, full_env = self._cli_command(args, env)
        if check:
            return _run(command, "wazuh-ocsf " + " ".join(args), env=full_env, timeout=timeout)
        return subprocess.run(
            [str(c) for c in command], capture_output=True, text=True, env=full_env, timeout=timeout, check=False
        )

    def start_cli(self, *args: str, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
        """Start the installed ``wazuh-ocsf … ARGS`` in the background (e.g. ``follow``); output to ``log``."""
        command, full_env = self._cli_command(args, env)
        out = open(log or os.devnull, "ab")  # noqa: SIM115 (the child holds it; closed here after the fork)
        try:
            return subprocess.Popen([str(c) for c in command], env=full_env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()

    def make_spool(self, name: str) -> Path:
        """An empty extra spool directory beside the home, owned by wazuh (e.g. for ``follow`` while the
        hook uses the home's spool; the follower switches to the spool's owner)."""
        spool = self.home.parent / name
        shutil.rmtree(spool, ignore_errors=True)
        spool.mkdir(mode=0o750)
        shutil.chown(spool, "wazuh", "wazuh")
        return spool

    def start_follow(self, spool: Path, env: dict | None = None) -> subprocess.Popen:
        """``wazuh-ocsf follow`` into ``spool`` (log: ``follow.log`` beside the home); returns once it has
        ``alerts.json`` open and its position saved (a first start saves the end of the file, so every
        alert written after this is its to spool)."""
        log = self.home.parent / "follow.log"
        process = self.start_cli("follow", "--poll", "0.2", env={"WAZUH_OCSF_SPOOL_DIR": str(spool), **(env or {})},
                                 log=log)
        started = wait_for(lambda: process.poll() is not None or (
            alerts_fd(process.pid) is not None and (spool / "state" / "follow.json").exists()))
        if not started or process.poll() is not None:
            stop(process)
            raise KitError(f"wazuh-ocsf follow did not start:\n{log.read_text(errors='replace')[-3000:]}")
        return process

    def alerts(self) -> list:
        """Every alert in ``logs/alerts/alerts.json`` (dicts, file order)."""
        if not self.alerts_json.exists():
            return []
        with open(self.alerts_json, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def spooled_events(self, spool: Path | None = None) -> list:
        """Every OCSF event in the segments (open and sealed) of the spool (default: the hook's) not yet flushed."""
        from wazuh_ocsf.spool.line import decode_line

        events = []
        for segment in sorted(((spool or self.spool) / "segments").glob("*")):
            with open(segment, "rb") as handle:
                events += [decode_line(line) for line in handle if line.strip()]
        return events

    def write_alerts(self, alerts: Iterable[dict | str]) -> int:
        """Append alerts to ``alerts.json`` as analysisd writes them (one JSON line each); how many."""
        lines = [a if isinstance(a, str) else json.dumps(a, separators=(",", ":")) for a in alerts]
        with open(self.alerts_json, "a", encoding="utf-8") as handle:
            handle.write("".join(line.rstrip("\n") + "\n" for line in lines))
        return len(lines)

    def reset(self) -> None:
        """Empty ``alerts.json``, the spool and the local sink, forget the other tool's output; keep the
        installation."""
        for child in self.spool.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            elif child.name != ".lock":
                child.unlink()
        with open(self.alerts_json, "w"):
            pass
        shutil.chown(self.alerts_json, "wazuh", "wazuh")
        (self.home / "logs" / "custom-echo.log").unlink(missing_ok=True)
        if self.output_dir is not None:
            for child in self.output_dir.iterdir():
                shutil.rmtree(child)

    def remove(self) -> None:
        shutil.rmtree(self.home.parent, ignore_errors=True)


#: Another tool's integration, as managers have them: ``custom-echo`` appends the alerts of rule
#: 5718 (sshd: attempt to login using a denied user) to ``logs/custom-echo.log``.
ECHO_SCRIPT = '#!/bin/sh\ncat "$1" >> logs/custom-echo.log\n'
ECHO_XML = """  <integration>
    <name>custom-echo</name>
    <rule_id>5718</rule_id>
    <alert_format>json</alert_format>
  </integration>
"""


def make_manager(out: Path, prefix: str, *install_args: str, other_tool: bool = False) -> Manager:
    """A new home (``home.sh -W``: the ruleset tests' Windows samples decode as runtests.py does)
    with wazuh-ocsf installed by ``installer/install.sh`` (``--scheduler none``, ``--python`` the
    system Python) and the given installer arguments. Its ``alerts.json`` exists and is empty.
    ``other_tool``: ossec.conf already has the ``custom-echo`` integration (:data:`ECHO_XML`)."""
    parent = new_home_dir(prefix)
    manager = Manager(home=parent / "ossec", out=out, bin_dir=parent / "bin", base_args=install_args)
    manager.bin_dir.mkdir()
    home_args = []
    if other_tool:
        script = parent / "custom-echo"
        script.write_text(ECHO_SCRIPT)
        home_args = ["-s", script, "-x", ECHO_XML]
    _run([kit_dir() / "home.sh", "-W", "-o", out, *home_args, manager.home], f"home.sh {manager.home}")
    manager.original_ossec_conf = manager.ossec_conf.read_bytes()
    manager.install(*install_args)
    manager.alerts_json.touch()
    shutil.chown(manager.alerts_json, "wazuh", "wazuh")
    manager.alerts_json.chmod(0o640)
    return manager


def run_chain(manager: Manager, lines: Path, *, timeout: float = TIMEOUT) -> str:
    """The whole chain (``RAW=1 run-chain.sh HOME LINES``): queue messages → analysisd → alerts.json →
    integratord → the hook; returns run-chain's output. Both daemons are stopped when it returns."""
    env = {**os.environ, "RAW": "1", "TIMEOUT": str(int(timeout))}
    return _run([kit_dir() / "run-chain.sh", manager.home, lines.resolve()], "run-chain.sh", env=env,
                timeout=timeout + 60).stdout


def wait_for(predicate, *, timeout: float = 60) -> bool:
    """Poll ``predicate`` until true (True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop(process: subprocess.Popen) -> int:
    """SIGTERM, as systemd stops a service; the exit code."""
    if process.poll() is None:
        process.terminate()
    return process.wait(timeout=60)


def _children(pid: int) -> str:
    text = ""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            text += (task / "children").read_text()
    return text.strip()


def alerts_fd(pid: int) -> str | None:
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            if os.readlink(fd).endswith("/logs/alerts/alerts.json"):
                return fd.name
        except OSError:
            pass
    return None


class Integratord:
    """The real ``wazuh-integratord`` of ``manager``, alone, on a private tmpfs ``/tmp``.

    It tails ``alerts.json`` from its end, like on a manager; :meth:`append` writes alerts there
    as analysisd does (one JSON line each) and :meth:`wait_idle` waits until integratord has read
    everything and no integration is running. Without analysisd (which waits ~15 s for wazuh-db
    on every start) scenarios can replay the chain's real alerts in seconds.
    """

    def __init__(self, manager: Manager, *, debug: bool = False) -> None:
        self.manager = manager
        self.debug = debug
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self) -> Integratord:
        binary = self.manager.home / "bin" / "wazuh-integratord"
        # unshare execs sh, sh execs integratord: the Popen pid is integratord's, as root (it drops
        # to wazuh itself; started as wazuh, its write check on the script would refuse it).
        script = 'mount -t tmpfs -o mode=1777,size=64m tmpfs /tmp && exec "$0" -f ${1:+"$1"}'
        self._log = log = open(self.manager.home / "logs" / "integratord.out", "ab")  # noqa: SIM115 (stop closes it)
        self.process = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(binary), "-d" if self.debug else ""],
            cwd=self.manager.home, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )
        deadline = time.monotonic() + 30
        while alerts_fd(self.process.pid) is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_tail = (self.manager.home / "logs" / "ossec.log").read_text(errors="replace")[-3000:]
                raise KitError(f"wazuh-integratord did not open alerts.json:\n{log_tail}")
            time.sleep(0.1)
        return self

    def append(self, alerts: Iterable[dict | str]) -> int:
        """Append alerts to alerts.json for integratord to pick up (:meth:`Manager.write_alerts`)."""
        return self.manager.write_alerts(alerts)

    def wait_idle(self, *, quiet: float = 1.5, timeout: float = 600) -> None:
        """Wait until integratord has read alerts.json to its end and runs no integration, for ``quiet`` s."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        calm_since = None
        while True:
            if self.process.poll() is not None:
                raise KitError(f"wazuh-integratord exited with {self.process.returncode}")
            fd = alerts_fd(self.process.pid)
            try:
                info = Path(f"/proc/{self.process.pid}/fdinfo/{fd}").read_text() if fd else ""
                pos = int(next(line.split()[1] for line in info.splitlines() if line.startswith("pos:")))
            except (OSError, StopIteration):
                pos = -1
            idle = pos == self.manager.alerts_json.stat().st_size and not _children(self.process.pid)
            now = time.monotonic()
            if not idle:
                calm_since = None
            elif calm_since is None:
                calm_since = now
            elif now - calm_since >= quiet:
                return
            if now > deadline:
                raise KitError("wazuh-integratord did not become idle")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Integratord:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def integratord(manager: Manager, **kwargs) -> Integratord:
    """``with integratord(manager) as daemon: daemon.append(alerts); daemon.wait_idle()``: started on
    entering the block, stopped on leaving it."""
    return Integratord(manager, **kwargs)


def feed(manager: Manager, alerts: Iterable[dict | str]) -> None:
    """Start integratord, append ``alerts`` to alerts.json, wait until every selected alert ran the hook, stop."""
    with integratord(manager) as daemon:
        daemon.append(alerts)
        daemon.wait_idle()
