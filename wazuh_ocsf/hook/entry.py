"""What ``integrations/custom-wazuh-ocsf`` hands over to: the interpreter, the bundle, the hook, the exit.

The integration file is compiled from source on every run (Python never caches a script's byte
code), so it only finds this package and calls :func:`run`; everything else is here, loaded
from byte code. Python 3.9+, and nothing here may import more than ``os`` and ``sys`` (the hook
path): ``time`` only to log a failure.

Installed, the integration's ``#!`` line runs ``<home>/wazuh-ocsf/venv/bin/python3 -IS``, and
:func:`run` goes on in that interpreter. From a source checkout (``#!/usr/bin/env python3``), or
when ``$WAZUH_OCSF_PYTHON`` names another interpreter, it replaces the process once (exec: no
fork, nothing left running) with, first found: ``$WAZUH_OCSF_PYTHON``,
``<home>/wazuh-ocsf/venv/bin/python3``, ``<home>/framework/python/bin/python3``, run with ``-I -S``
(no PYTHON* variables, no site-packages: the hook needs the standard library only). An
interpreter that cannot be run is exit 14 (ERR_INSTALL), never 127 (integratord's "cannot execute").
"""

import os
import sys

ERR_INSTALL = 14  # wazuh_ocsf.hook.run.ERR_INSTALL: the same number, without importing the hook for it
PYTHON_ENV = "WAZUH_OCSF_PYTHON"
EXEC_MARK = "wazuh-ocsf-exec"  # the -X option of the one re-exec: it never happens twice


def fail(home: str, message: str) -> int:
    """Log ``message`` as the hook logs (integrations.log and stderr); ERR_INSTALL."""
    import time

    line = f"wazuh-ocsf: ERROR: {message} (exit {ERR_INSTALL})"
    log = os.path.join(os.environ.get("WAZUH_OCSF_WAZUH_HOME") or home, "logs", "integrations.log")
    try:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y %b %d %H:%M:%S')} {line}\n")
    except OSError:
        pass
    sys.stderr.write(line + "\n")  # integratord puts our last output line in ossec.log
    return ERR_INSTALL


def interpreter(home: str) -> str:
    """The interpreter to re-exec with, or "" to go on in this one (the installed ``#!`` line's)."""
    if EXEC_MARK in sys._xoptions:
        return ""
    isolated = sys.flags.isolated and sys.flags.no_site
    chosen = os.environ.get(PYTHON_ENV)
    if chosen:
        same = isolated and os.path.realpath(chosen) == os.path.realpath(sys.executable)
        return "" if same else chosen
    if isolated:
        return ""
    venv = os.path.join(home, "wazuh-ocsf", "venv", "bin", "python3")
    return venv if os.access(venv, os.X_OK) else os.path.join(home, "framework", "python", "bin", "python3")


def _main(home: str, script: str) -> int:
    python = interpreter(home)
    if python:
        if not os.access(python, os.X_OK):
            return fail(home, f"no Python interpreter at {python}: reinstall wazuh-ocsf or set {PYTHON_ENV}")
        try:
            os.execv(python, [python, "-I", "-S", "-X", EXEC_MARK, script, *sys.argv[1:]])
        except OSError as exc:
            return fail(home, f"cannot run the Python interpreter {python}: {exc.strerror or exc}")
    try:
        from wazuh_ocsf.hook import bundle as hook_bundle

        hook_bundle.install()  # the byte code the installer bundled, if current; else normal imports
        from wazuh_ocsf.hook.run import main
    except ImportError as exc:
        return fail(home, f"cannot import wazuh_ocsf from {sys.path[-1]}: {exc}; reinstall wazuh-ocsf")
    return main(sys.argv)


def run(home: str, script: str) -> None:
    """Run the hook for this process's argv and exit with its code; ``home`` is the Wazuh home
    the integration file found, ``script`` its path. Never returns."""
    code = _main(home, os.path.abspath(script))
    # Exit without the interpreter's teardown (freeing every module and object one by one costs
    # a quarter of a bare start): everything the hook writes goes through os.write, and the
    # standard streams are flushed here.
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 -- contextlib is an import the hook need not pay for
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)
