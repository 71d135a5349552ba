"""The install-time byte-code bundle of the hook's modules: used when current, ignored when not."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hook_support import INTEGRATION, SAMPLE_ALERT, Home, alert_bytes, argv_48, finding_uid_of

from wazuh_ocsf.config import CLASS_NAMES, FINDING_CLASSES, ROUTED_CLASSES
from wazuh_ocsf.hook import bundle as hook_bundle
from wazuh_ocsf.hook import run as hook
from wazuh_ocsf.mapping import finding_uid

# What the hook can be configured to emit: a finding class, or auto (routed per alert).
HOOK_CLASSES = [*(CLASS_NAMES[uid] for uid in FINDING_CLASSES), "auto"]

PACKAGE = Path(hook.__file__).parent.parent
PYTHON = os.path.realpath(sys.executable)
PROBE = (
    "import sys; sys.path.append(sys.argv[1])\n"
    "from wazuh_ocsf.hook import bundle as hook_bundle\n"
    "installed = hook_bundle.install()\n"
    "import wazuh_ocsf.hook.run, wazuh_ocsf.spool.store\n"
    "print(installed, type(wazuh_ocsf.hook.run.__spec__.loader).__name__, wazuh_ocsf.spool.store.__file__)\n"
)


@pytest.fixture
def installed(tmp_path) -> Path:
    """``<home>`` with the installer's layout: integrations/ and wazuh-ocsf/lib/wazuh_ocsf, bundled."""
    root = tmp_path / "ossec"
    (root / "integrations").mkdir(parents=True)
    shutil.copy(INTEGRATION, root / "integrations" / INTEGRATION.name)
    lib = root / "wazuh-ocsf" / "lib"
    shutil.copytree(PACKAGE, lib / "wazuh_ocsf", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [PYTHON, "-I", "-S", str(lib / "wazuh_ocsf" / "hook" / "bundle.py")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {hook_bundle.bundle_path(str(lib / 'wazuh_ocsf'))}\n"
    return root


def probe(root: Path) -> list:
    lib = root / "wazuh-ocsf" / "lib"
    result = subprocess.run([PYTHON, "-I", "-S", "-c", PROBE, str(lib)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_current_bundle_serves_the_hook_modules(installed):
    spool = installed / "wazuh-ocsf" / "lib" / "wazuh_ocsf" / "spool" / "store.py"
    assert probe(installed) == ["True", "_BundleLoader", str(spool)]


def test_a_changed_source_makes_the_bundle_stale_and_unused(installed):
    source = installed / "wazuh-ocsf" / "lib" / "wazuh_ocsf" / "spool" / "store.py"
    source.write_bytes(source.read_bytes() + b"\n")  # an upgrade that forgot to rebuild it
    assert probe(installed)[:2] == ["False", "SourceFileLoader"]


def test_a_bundle_of_another_byte_code_version_is_unused(installed):
    path = Path(hook_bundle.bundle_path(str(installed / "wazuh-ocsf" / "lib" / "wazuh_ocsf")))
    data = path.read_bytes()
    _header, magic, _records = hook_bundle.read_index(data)
    foreign = data.replace(magic, b"\x00\x00\r\n", 1)  # the same length: the offsets stay right
    assert hook_bundle.read_index(foreign)[1] == b"\x00\x00\r\n"
    path.write_bytes(foreign)
    assert probe(installed)[:2] == ["False", "SourceFileLoader"]
    path.write_bytes(b"garbage")
    assert probe(installed)[:2] == ["False", "SourceFileLoader"]
    path.write_bytes(data[: len(data) // 2])  # truncated: the index points past the end
    assert probe(installed)[:2] == ["False", "SourceFileLoader"]


def _home_with(installed: Path, ocsf_class: str) -> Home:
    home = Home(installed)
    home.write_config(spool_dir=home.spool, node_name="node-1", ocsf_class=ocsf_class)
    return home


@pytest.mark.parametrize("ocsf_class", HOOK_CLASSES)
def test_the_bundled_hook_spools_the_same_event(installed, tmp_path, ocsf_class):
    home = _home_with(installed, ocsf_class)
    env = home.env()
    del env["WAZUH_OCSF_WAZUH_HOME"]
    command = [PYTHON, "-I", "-S", str(installed / "integrations" / INTEGRATION.name)]
    result = subprocess.run(
        [*command, *map(str, argv_48(home.alert_file(alert_bytes(SAMPLE_ALERT))))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (event,) = home.spooled()
    assert finding_uid_of(event) == finding_uid(SAMPLE_ALERT)
    # The same event as the unbundled hook of the checkout makes.
    plain = Home(tmp_path / "plain")
    plain.write_config(spool_dir=plain.spool, node_name="node-1", ocsf_class=ocsf_class)
    assert plain.run(argv_48(plain.alert_file(alert_bytes(SAMPLE_ALERT)))).returncode == 0
    assert plain.spooled() == [event]


def test_the_bundle_holds_exactly_what_the_hook_imports_on_success(installed):
    """Generated from the real imports: every package module a spooled alert of any class loads."""
    lib = installed / "wazuh-ocsf" / "lib" / "wazuh_ocsf"
    _header, _magic, records = hook_bundle.read_index(Path(hook_bundle.bundle_path(str(lib))).read_bytes())
    bundled = {record[0] for record in records}
    imported = set()
    for ocsf_class in HOOK_CLASSES:
        home = _home_with(installed, ocsf_class)
        alert = home.alert_file(alert_bytes(SAMPLE_ALERT))
        script = installed / "integrations" / INTEGRATION.name
        result = subprocess.run(
            [PYTHON, "-X", "importtime", "-I", "-S", str(script), *map(str, argv_48(alert))],
            env=home.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        imported |= set(re.findall(r"\| +(wazuh_ocsf\.[\w.]+)$", result.stderr, re.MULTILINE))
    # Imported before the bundle is installed (hook_entry, hook_bundle), or as root only (CI: the hook
    # first consults privileges, not integratord's path): imported as usual.
    imported -= {"wazuh_ocsf.hook.entry", "wazuh_ocsf.hook.bundle", "wazuh_ocsf.privileges"}
    assert imported <= bundled
    # With auto, a routed class's module is imported only for an alert that class takes.
    assert bundled - imported <= {f"wazuh_ocsf.mapping.{CLASS_NAMES[uid]}" for uid in ROUTED_CLASSES}
    assert "wazuh_ocsf.spool.dead_letter" not in bundled  # failures import it from the package, as before
