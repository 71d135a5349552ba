"""Helpers shared by the spool, dead-letter and hook tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.spool.store import Spool, split_lines


def settings_for(spool_dir: Path, **values):
    """Settings for a spool in ``spool_dir``; ``values`` are settings by attribute name."""
    environ = {
        "WAZUH_OCSF_SPOOL_DIR": str(spool_dir),
        "WAZUH_OCSF_NODE_NAME": "node-1",
        "WAZUH_OCSF_CONFIG": str(spool_dir.parent / "absent.conf"),
    }
    for key, value in values.items():
        environ["WAZUH_OCSF_" + key.upper()] = str(value)
    return load_settings(environ=environ, wazuh_home=str(spool_dir.parent))


def make_spool(spool_dir: Path, **values) -> Spool:
    """A spool in ``spool_dir`` (created), with the given settings."""
    return Spool(settings_for(spool_dir, **values), create=True)


def line(number: int, size: int = 0) -> bytes:
    """A distinct spool line, padded to about ``size`` bytes."""
    pad = "x" * max(0, size - 40)
    text = f'{{"class_uid":2001,"n":{number},"pad":"{pad}"}}\n'
    return text.encode()


def segment_files(spool_dir: Path) -> list:
    return sorted(p.name for p in (spool_dir / "segments").iterdir())


def read_all(spool: Spool) -> list:
    """Seal, then every line of every sealed segment, oldest first (no torn tail allowed)."""
    spool.seal_active()
    lines = []
    for segment in spool.sealed_segments():
        complete, tail = split_lines(Path(segment.path).read_bytes())
        assert tail == b""
        lines.extend(complete.splitlines(keepends=True))
    return lines


NOBODY = 65534


def as_nobody() -> None:
    """``preexec_fn``: become the unprivileged user ``nobody`` (the caller is root)."""
    os.setgid(NOBODY)
    os.setgroups([])
    os.setuid(NOBODY)


def python_for_nobody() -> str | None:
    """An interpreter that ``nobody`` may run (pyenv under /root is out of its reach), or None."""
    if os.geteuid() != 0:
        return None
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3"):
        try:
            probe = subprocess.run([candidate, "-c", "pass"], preexec_fn=as_nobody, capture_output=True, check=False)
        except OSError:  # nobody may not even execute it
            continue
        if probe.returncode == 0:
            return candidate
    return None


@contextlib.contextmanager
def world_readable_dir():
    """A temporary directory that ``nobody`` can reach (pytest's tmp_path sits under a 0700 dir)."""
    path = Path(tempfile.mkdtemp(prefix="wazuh-ocsf-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def lock_held_elsewhere(path: Path):
    """Another process holds the ``flock`` on ``path`` for the ``with`` block."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        yield
    finally:
        holder.kill()
        holder.wait()


def previous_release_line(event: dict) -> bytes:
    """The spool line the previous release (format 1, no ``_format``) wrote for ``event``:
    a copy of its encoder, so tests can build the spools an upgrade finds."""
    unmapped = event.get("unmapped")
    if unmapped is not None:
        event = dict(event)
        event["unmapped"] = [{"key": key, "value": value} for key, value in unmapped.items()]
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace") + b"\n"
