"""The package's own virtual environment (``<home>/wazuh-ocsf/venv``) and the hook's copy of it (``lib/``).

The manager's embedded Python is never modified: the venv is created from it (or from
``--python``) and pip installs into the venv only, from the package index or, offline, from a
directory of wheels. The hook does not use the venv's site-packages: it runs with ``-I -S`` on
the standard library and imports ``wazuh_ocsf`` from ``<home>/wazuh-ocsf/lib``, a root-owned
copy of the installed package, byte-compiled for each interpreter the wrapper may pick, so a
Wazuh upgrade that replaces the embedded Python cannot break alerts flowing into the spool.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess

from wazuh_ocsf_installer.detect import python_version
from wazuh_ocsf_installer.errors import InstallError
from wazuh_ocsf_installer.files import Change, Owner, write_atomic

#: Import names of the runtime dependencies (setup.cfg install_requires): the flusher needs them all.
DEPENDENCIES = ("pyarrow", "boto3", "requests", "filelock")
_PROBE = (
    "import importlib.util, json, os, sys\n"
    "try:\n"
    "    import wazuh_ocsf\n"
    "    package = os.path.dirname(wazuh_ocsf.__file__); version = wazuh_ocsf.__version__\n"
    "except ImportError:\n"
    "    package = version = None\n"
    "missing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]\n"
    "print(json.dumps({'package': package, 'version': version, 'missing': missing,"
    " 'python': '%d.%d.%d' % sys.version_info[:3]}))\n"
)


def _clean_env() -> dict:
    """The environment for pip and probes: ours, without Python or wazuh-ocsf overrides."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "WAZUH_OCSF_", "PIP_TARGET", "PIP_PREFIX", "VIRTUAL_ENV"))
    }


def probe(venv: str) -> dict | None:
    """What the venv holds: ``package`` dir, ``version``, ``missing`` dependencies, ``python``; None if broken."""
    python = os.path.join(venv, "bin", "python3")
    try:
        result = subprocess.run(
            [python, "-I", "-c", _PROBE, *DEPENDENCIES],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=_clean_env(),
        )
        return json.loads(result.stdout) if result.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _venv_python_version(venv: str) -> str | None:
    parser = configparser.ConfigParser()
    try:
        with open(os.path.join(venv, "pyvenv.cfg"), encoding="utf-8") as handle:
            parser.read_string("[venv]\n" + handle.read())
    except (OSError, configparser.Error):
        return None
    return parser.get("venv", "version_info", fallback=None) or parser.get("venv", "version", fallback=None)


def _run(command: list, what: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=_clean_env())
    except OSError as exc:
        raise InstallError(f"{what}: cannot run {command[0]}: {exc}") from None
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise InstallError(f"{what} failed (exit {result.returncode}):\n{tail}")


def plan_venv(
    venv: str,
    shown: str,
    *,
    base_python: str,
    source_dir: str,
    version: str,
    wheelhouse: str | None,
    no_deps: bool,
    rebuild: bool,
) -> tuple[list[Change], dict | None]:
    """Changes that make ``venv`` hold wazuh-ocsf ``version``; also what the venv holds now (or None)."""
    base_version = python_version(base_python)
    if base_version is None:
        raise InstallError(f"the Python at {base_python} does not run: pass --python with a Python 3.9 or newer")
    if base_version < (3, 9):
        raise InstallError(f"{base_python} is Python {'.'.join(map(str, base_version))}: wazuh-ocsf needs 3.9 or newer")
    base_text = ".".join(map(str, base_version))
    current = probe(venv) if os.path.isdir(venv) else None
    venv_version = _venv_python_version(venv)
    changes = []
    if current is None or rebuild or (venv_version and venv_version != base_text):
        if not os.path.isdir(venv):
            verb, why = "create", ""
        elif current is None:
            verb, why = "rebuild", "its Python no longer runs (a Wazuh upgrade replaced it?)"
        elif rebuild:
            verb, why = "rebuild", "--rebuild-venv"
        else:
            verb, why = "rebuild", f"it runs Python {venv_version}, not {base_text}"

        def create() -> None:
            _run([base_python, "-I", "-m", "venv", "--clear", venv], f"creating the virtual environment {venv}")

        detail = f"Python {base_text} from {base_python}" + (f"; {why}" if why else "")
        changes.append(Change(verb, shown, detail, create))
        current = None
    else:
        changes.append(Change("keep", shown, f"Python {base_text}"))

    source = (
        f"offline from wheelhouse {wheelhouse}"
        if wheelhouse
        else f"from the source tree {source_dir}, dependencies from the package index"
    )
    if no_deps:
        source += ", without dependencies (--no-deps)"
    if current is not None and current.get("version") == version:
        changes.append(Change("keep", f"wazuh-ocsf {version} in the virtual environment"))
        return changes, current

    def install() -> None:
        command = [os.path.join(venv, "bin", "python3"), "-I", "-m", "pip", "install", "--disable-pip-version-check"]
        command += ["--no-input", "--upgrade"]
        if no_deps:
            command.append("--no-deps")
        if wheelhouse:
            command += ["--no-index", "--find-links", wheelhouse, f"wazuh-ocsf=={version}"]
        else:
            command.append(source_dir)
        _run(command, f"installing wazuh-ocsf {version} into {venv}")

    was = current.get("version") if current else None
    verb = "upgrade" if was else "install"
    changes.append(
        Change(
            verb, f"wazuh-ocsf {version} in the virtual environment", (f"was {was}; " if was else "") + source, install
        )
    )
    return changes, current


def _package_files(package: str) -> dict:
    """Relative path → absolute path of every file of the package, without byte code."""
    files = {}
    for directory, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in names:
            if not name.endswith((".pyc", ".pyo")):
                path = os.path.join(directory, name)
                files[os.path.relpath(path, package)] = path
    return files


def lib_differs(package: str, lib: str) -> bool:
    """Whether the hook's copy ``lib`` differs from the installed ``package`` (files and contents)."""
    source, copy = _package_files(package), _package_files(lib) if os.path.isdir(lib) else {}
    if set(source) != set(copy):
        return True
    for relative, path in source.items():
        with open(path, "rb") as a, open(copy[relative], "rb") as b:
            if a.read() != b.read():
                return True
    return False


def sync_lib(package: str, lib: str, owner: Owner, pythons: list) -> None:
    """Make ``lib`` an exact copy of ``package`` owned by ``owner`` (dirs 0750, files 0640), byte-compiled.

    Byte code is compiled now, as root, for every interpreter the wrapper may run, because the
    hook runs as ``wazuh`` and cannot write ``__pycache__`` into this root-owned tree.
    """
    source = _package_files(package)
    os.makedirs(lib, exist_ok=True)
    for relative, path in source.items():
        target = os.path.join(lib, relative)
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            with open(target, "rb") as handle:
                same = handle.read() == data
        except FileNotFoundError:
            same = False
        if not same:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            write_atomic(target, data, owner.uid, owner.gid, 0o640)
    for relative in set(_package_files(lib)) - set(source):
        os.unlink(os.path.join(lib, relative))
    for directory, dirs, _ in os.walk(lib, topdown=False):
        for name in dirs:
            path = os.path.join(directory, name)
            if name == "__pycache__":
                shutil.rmtree(path)  # stale byte code of removed modules goes too; recompiled below
            elif not os.listdir(path):
                os.rmdir(path)
    for python in pythons:
        _run([python, "-I", "-m", "compileall", "-q", lib], f"byte-compiling {lib} with {python}")
    parent = os.path.dirname(lib)
    os.chown(parent, owner.uid, owner.gid)
    os.chmod(parent, 0o750)
    for directory, _, names in os.walk(lib):
        os.chown(directory, owner.uid, owner.gid)
        os.chmod(directory, 0o750)
        for name in names:
            os.chown(os.path.join(directory, name), owner.uid, owner.gid)
            os.chmod(os.path.join(directory, name), 0o640)
