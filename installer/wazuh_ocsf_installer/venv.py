"""The package's own virtual environment (``<home>/wazuh-ocsf/venv``) and the hook's copy of it (``lib/``).

The manager's embedded Python is never modified: the venv is created from it (or from
``--python``) and pip installs into the venv only, from the package index or, offline, from a
directory of wheels. The hook does not use the venv's site-packages: it runs with ``-I -S`` on
the standard library and imports ``wazuh_ocsf`` from ``<home>/wazuh-ocsf/lib``, a root-owned
copy of the installed package, byte-compiled for each interpreter the hook may run on, so a
Wazuh upgrade that replaces the embedded Python cannot break alerts flowing into the spool.
"""

from __future__ import annotations

import collections
import configparser
import hashlib
import json
import os
import shutil
import subprocess
import zipfile

from wazuh_ocsf_installer.detect import python_version
from wazuh_ocsf_installer.errors import InstallError
from wazuh_ocsf_installer.files import Change, Owner, write_atomic

#: Import names of the runtime dependencies (setup.cfg install_requires): the flusher needs them all.
DEPENDENCIES = ("pyarrow", "boto3", "requests", "filelock")
#: The exact dependency versions CI tested, per Python version: pip installs the venv with them.
CONSTRAINTS = "constraints.txt"
#: The oldest Python the venv (flusher, CLI) supports; the hook's lib copy runs on 3.9 too.
VENV_PYTHON = (3, 10)
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
    """Run ``command``, showing its output as it comes (pip takes minutes: never a silent wait)."""
    tail: collections.deque = collections.deque(maxlen=15)
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=_clean_env(),
        )
    except OSError as exc:
        raise InstallError(f"{what}: cannot run {command[0]}: {exc}") from None
    with process:
        for line in process.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                print(f"      | {line}", flush=True)
    if process.returncode != 0:
        joined = "\n".join(tail)
        raise InstallError(f"{what} failed (exit {process.returncode}):\n{joined}")


def _digest(files: dict) -> str:
    """SHA-256 over relative path → bytes, in path order."""
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode() + b"\0" + hashlib.sha256(files[relative]).digest())
    return digest.hexdigest()


def source_digest(source_dir: str, wheelhouse: str | None, version: str) -> str | None:
    """Content hash of the package about to be installed: its files in the wheel of ``version`` in
    the wheelhouse, else in the source tree (None: no such wheel). Upgrades compare it with
    :func:`installed_digest`, not version strings, so a changed file of the same version is deployed.
    """
    if not wheelhouse:
        package = os.path.join(source_dir, "wazuh_ocsf")
        return installed_digest(package)
    prefix = f"wazuh_ocsf-{version}-"
    wheels = sorted(n for n in os.listdir(wheelhouse) if n.startswith(prefix) and n.endswith(".whl"))
    if not wheels:
        return None
    try:
        with zipfile.ZipFile(os.path.join(wheelhouse, wheels[0])) as archive:
            files = {
                name[len("wazuh_ocsf/") :]: archive.read(name)
                for name in archive.namelist()
                if name.startswith("wazuh_ocsf/") and not name.endswith(("/", ".pyc", ".pyo"))
            }
    except (OSError, zipfile.BadZipFile) as exc:
        raise InstallError(f"cannot read the wheel {wheels[0]} in {wheelhouse}: {exc}") from None
    return _digest(files)


def installed_digest(package: str) -> str:
    """Content hash of an installed (or source) package directory, byte code left out."""
    files = {}
    for relative, path in _package_files(package).items():
        with open(path, "rb") as handle:
            files[relative.replace(os.sep, "/")] = handle.read()
    return _digest(files)


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
    """Changes that make ``venv`` hold wazuh-ocsf ``version`` with the content about to be installed.

    Also returns what the venv holds now when it is kept as it is (None when it changes).
    """
    constraints = os.path.join(source_dir, CONSTRAINTS)
    if not os.path.isfile(constraints):
        raise InstallError(f"{constraints} is missing: run the installer from a complete wazuh-ocsf source tree")
    base_version = python_version(base_python)
    if base_version is None:
        raise InstallError(f"the Python at {base_python} does not run: pass --python with a Python 3.10 or newer")
    if base_version < VENV_PYTHON:
        raise InstallError(
            f"{base_python} is Python {'.'.join(map(str, base_version))}: the flusher's virtual environment needs"
            " 3.10 or newer (its dependencies as tested; the hook alone runs on 3.9). Pass --python with a"
            " Python 3.10+ interpreter (Wazuh 4.2-4.7 embed 3.9)"
        )
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
    source += ", without dependencies (--no-deps)" if no_deps else f", at the versions of {constraints}"
    was = current.get("version") if current else None
    content = source_digest(source_dir, wheelhouse, version)
    if was == version and content is not None and installed_digest(current["package"]) == content:
        changes.append(Change("keep", f"wazuh-ocsf {version} in the virtual environment"))
        return changes, current

    def install() -> None:
        pip = [os.path.join(venv, "bin", "python3"), "-I", "-m", "pip", "install", "--disable-pip-version-check"]
        pip += ["--no-input", "--progress-bar", "off", "--constraint", constraints]
        package = ["--no-index", "--find-links", wheelhouse, f"wazuh-ocsf=={version}"] if wheelhouse else [source_dir]
        what = f"installing wazuh-ocsf {version} into {venv}"
        _run([*pip, "--upgrade", *(["--no-deps"] if no_deps else []), *package], what)
        if was == version:  # pip keeps an installed version as it is: replace its files
            _run([*pip, "--force-reinstall", "--no-deps", *package], what)

    if was == version:
        verb, detail = "reinstall", "same version, changed files; "
    else:
        verb, detail = ("upgrade", f"was {was}; ") if was else ("install", "")
    changes.append(Change(verb, f"wazuh-ocsf {version} in the virtual environment", detail + source, install))
    return changes, None


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

    Byte code is compiled now, as root, for every interpreter the hook may run on, because the
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
        # One file of the hook's byte code per interpreter (wazuh_ocsf/hook/bundle.py): one read per alert.
        bundler = os.path.join(lib, "hook", "bundle.py")
        _run([python, "-I", "-S", bundler], f"bundling the hook's byte code with {python}")
    parent = os.path.dirname(lib)
    os.chown(parent, owner.uid, owner.gid)
    os.chmod(parent, 0o750)
    for directory, _, names in os.walk(lib):
        os.chown(directory, owner.uid, owner.gid)
        os.chmod(directory, 0o750)
        for name in names:
            os.chown(os.path.join(directory, name), owner.uid, owner.gid)
            os.chmod(os.path.join(directory, name), 0o640)
