"""The real installer, run as root, against a manager home where the ``wazuh`` account plays the attacker.

The fake manager has Wazuh's real owners and modes (``<home>`` root:wazuh 0750, ``etc/`` and
``logs/`` wazuh:wazuh 0770, ``ossec.conf`` root:wazuh 0660) and a real ``wazuh`` user (created
here when the machine has none). Each test plants what ``wazuh`` can plant (a replaced settings
file, a symlink, a file it owns) and asserts that nothing outside the installation changes owner,
mode or content, and that the installer refuses with a message naming the file and the fix.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_installer import HOME, INSTALL_SH, build_wheel, copy_tree, lived_in_conf, owner_mode, snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the attacks need root (CI runs as root)")

ETC = HOME.lstrip("/") + "/etc"
LOGS = HOME.lstrip("/") + "/logs"
BASE = HOME.lstrip("/") + "/wazuh-ocsf"


@pytest.fixture(scope="module")
def wazuh_ids() -> tuple:
    """The ``wazuh`` user and group's ids, creating them as Wazuh's packages do when missing."""
    try:
        pwd.getpwnam("wazuh")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/sbin/nologin", "wazuh"],
            check=True,
            capture_output=True,
        )
    return pwd.getpwnam("wazuh").pw_uid, grp.getgrnam("wazuh").gr_gid


def make_wazuh_home(root: Path, uid: int, gid: int, conf: bytes) -> Path:
    """A manager home with the owners and modes of a Wazuh 4.x package install."""
    home = root / HOME.lstrip("/")
    layout = {
        "": (0, gid, 0o750),
        "etc": (uid, gid, 0o770),
        "logs": (uid, gid, 0o770),
        "bin": (0, gid, 0o750),
        "integrations": (0, gid, 0o750),
        "framework/python/bin": (0, 0, 0o755),
    }
    for sub, (owner, group, mode) in layout.items():
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, owner, group)
        path.chmod(mode)
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    (root / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    conf_path = home / "etc/ossec.conf"
    conf_path.write_bytes(conf)
    os.chown(conf_path, 0, gid)
    conf_path.chmod(0o660)
    (home / "VERSION.json").write_text('{"version": "v4.14.7"}\n')
    for daemon in ("wazuh-integratord", "wazuh-analysisd"):
        (home / "bin" / daemon).write_text("#!/bin/sh\n")
        (home / "bin" / daemon).chmod(0o750)
    return home


def install(root: Path, *args: str, python: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAZUH_OCSF", "PYTHON"))}
    command = ["sh", str(INSTALL_SH), "--root", str(root), "--python", python or shutil.which("python3"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)


def victim(root: Path) -> Path:
    """A root-only directory outside the installation, with a file in it: what an attacker aims at."""
    path = root / "etc/sudoers.d"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o750)
    (path / "README").write_text("root only\n")
    (path / "README").chmod(0o440)
    return path


def as_wazuh(path: Path, uid: int, gid: int) -> None:
    os.lchown(path, uid, gid)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("attack-wheels")
    build_wheel(out)
    return out


@pytest.fixture(scope="module")
def installed(wazuh_ids, wheels):
    """One real install with the real owners; tests attack copies of it."""
    root = Path(tempfile.mkdtemp(prefix="wazuh-ocsf-attack-", dir="/tmp"))
    root.chmod(0o755)
    make_wazuh_home(root, *wazuh_ids, lived_in_conf())
    victim(root)
    result = install(root, "--wheelhouse", str(wheels), "--no-deps", "--output-dir", "/srv/wazuh-ocsf-parquet")
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def outside(snap: dict) -> dict:
    """The snapshot without the installation's own paths."""
    ours = (f"{BASE}", "usr/local/bin/wazuh-ocsf", "etc/systemd/system", f"{ETC}/wazuh-ocsf.conf")
    return {
        path: value
        for path, value in snap.items()
        if not path.startswith(ours) and "ossec.conf" not in path and "custom-wazuh-ocsf" not in path
    }


def test_install_gives_wazuh_only_what_it_created(installed, wazuh_ids):
    uid, gid = wazuh_ids
    assert owner_mode(installed / BASE / "spool") == (uid, gid, 0o750)
    assert owner_mode(installed / "srv/wazuh-ocsf-parquet") == (uid, gid, 0o750)  # --output-dir created for wazuh
    assert owner_mode(installed / BASE / "installed.json") == (0, 0, 0o600)
    assert owner_mode(installed / "etc/sudoers.d") == (0, 0, 0o750)


def test_a_settings_file_replaced_by_wazuh_is_not_trusted(installed, tmp_path, wazuh_ids):
    root = copy_tree(installed, tmp_path)
    config = root / ETC / "wazuh-ocsf.conf"
    text = config.read_text() + "WAZUH_OCSF_SPOOL_DIR=/etc/sudoers.d\n"
    config.unlink()  # wazuh can: etc/ is wazuh:wazuh 0770
    config.write_text(text)
    as_wazuh(config, *wazuh_ids)
    before = snapshot(root)
    result = install(root)
    assert result.returncode == 1
    assert f"{config} is wazuh:wazuh" in result.stderr and "does not trust it" in result.stderr
    assert f"chown root {config}" in result.stderr
    assert snapshot(root) == before
    outside_before = outside(before)
    result = install(root, "--uninstall", "--purge", "--force")
    assert result.returncode == 0, result.stderr
    assert "only the default spool is considered" in result.stderr
    assert outside(snapshot(root)) == outside_before
    assert owner_mode(root / "etc/sudoers.d") == (0, 0, 0o750)
    assert (root / "etc/sudoers.d/README").read_text() == "root only\n"


def test_uninstall_purge_deletes_only_a_spool_it_recorded(installed, tmp_path):
    root = copy_tree(installed, tmp_path)
    config = root / ETC / "wazuh-ocsf.conf"
    config.write_text(config.read_text() + "WAZUH_OCSF_SPOOL_DIR=/etc/sudoers.d\n")  # root's own file, a typo
    before = outside(snapshot(root))
    result = install(root, "--uninstall", "--purge", "--force")
    assert result.returncode == 0, result.stderr
    assert "the spool /etc/sudoers.d was not created by the installer" in result.stderr
    assert outside(snapshot(root)) == before
    assert sorted(os.listdir(root / BASE)) == ["installed.json", "spool"]  # the old default spool, not purged


def test_a_spool_dir_not_created_by_the_installer_keeps_its_owner(installed, tmp_path):
    root = copy_tree(installed, tmp_path)
    before = snapshot(root)
    result = install(root, "--set", "WAZUH_OCSF_SPOOL_DIR=/etc/sudoers.d")
    assert result.returncode == 1
    assert "was not created by the installer" in result.stderr and "chown wazuh:wazuh" in result.stderr
    assert snapshot(root) == before


def test_a_symlink_planted_while_the_venv_builds_is_not_followed(wazuh_ids, wheels, tmp_path):
    """The spool under logs/ (wazuh-writable): ``wazuh`` plants ``logs/ocsf-spool -> /etc/sudoers.d``
    after the plan is made, while pip runs (a ``--python`` that plants it when the venv is created)."""
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o755)
    make_wazuh_home(root, *wazuh_ids, lived_in_conf())
    target = victim(root)
    link = root / LOGS / "ocsf-spool"
    planter = tmp_path / "python3"
    planter.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *"-m venv"*) ln -s {target} {link} && chown -h wazuh:wazuh {link} ;; esac\n'
        f'exec {shutil.which("python3")} "$@"\n'
    )
    planter.chmod(0o755)
    before = outside(snapshot(root))
    result = install(
        root, "--wheelhouse", str(wheels), "--no-deps", "--set", f"WAZUH_OCSF_SPOOL_DIR={HOME}/logs/ocsf-spool",
        python=str(planter),
    )  # fmt: skip
    assert link.is_symlink()  # the attack happened
    assert result.returncode == 1
    assert f"{link} is a symlink in {root / LOGS}, a directory other accounts can write" in result.stderr
    assert owner_mode(target) == (0, 0, 0o750)
    after = outside(snapshot(root))
    del after[f"{LOGS}/ocsf-spool"]
    assert after == before


def test_a_symlinked_ossec_conf_is_refused(installed, tmp_path):
    root = copy_tree(installed, tmp_path)
    conf = root / ETC / "ossec.conf"
    elsewhere = root / "etc/victim-ossec"
    shutil.copy2(conf, elsewhere)
    conf.unlink()
    conf.symlink_to(elsewhere)
    before = snapshot(root)
    for args in (("--level", "9"), ("--uninstall",)):
        result = install(root, *args)
        assert result.returncode == 1, args
        assert f"{conf} is a symlink" in result.stderr and "cp --remove-destination" in result.stderr
        assert snapshot(root) == before


def test_a_settings_symlink_to_a_secret_is_not_read(installed, tmp_path):
    root = copy_tree(installed, tmp_path)
    config = root / ETC / "wazuh-ocsf.conf"
    secret = root / "etc/shadow"
    secret.write_text("WAZUH_OCSF_BUCKET=root-secret-hash\n")
    secret.chmod(0o600)
    config.unlink()
    config.symlink_to(secret)
    before = snapshot(root)
    result = install(root, "--level", "9")
    assert result.returncode == 1
    assert f"{config} is a symlink" in result.stderr
    assert "root-secret-hash" not in result.stdout + result.stderr
    assert snapshot(root) == before


def _chattr_works(path: Path) -> bool:
    probe = path / "chattr-probe"
    probe.write_text("")
    ok = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, check=False).returncode == 0
    if ok:
        subprocess.run(["chattr", "-i", str(probe)], check=True)
    probe.unlink()
    return ok


def test_an_immutable_ossec_conf_is_refused_before_anything_changes(installed, tmp_path):
    if shutil.which("chattr") is None or not _chattr_works(tmp_path):
        pytest.fail("chattr +i does not work here: the immutable-file check cannot be tested")
    root = copy_tree(installed, tmp_path)
    conf = root / ETC / "ossec.conf"
    subprocess.run(["chattr", "+i", str(conf)], check=True)
    try:
        before = snapshot(root)
        result = install(root, "--level", "9", "--region", "us-east-1")
        assert result.returncode == 1
        assert f"{conf} is immutable (chattr +i)" in result.stderr and f"chattr -i {conf}" in result.stderr
        assert "Traceback" not in result.stderr
        assert snapshot(root) == before  # the settings change was not applied either
    finally:
        subprocess.run(["chattr", "-i", str(conf)], check=True)


def test_a_latin1_byte_in_ossec_conf_is_kept_and_nothing_crashes(installed, tmp_path):
    root = copy_tree(installed, tmp_path)
    conf = root / ETC / "ossec.conf"
    original = conf.read_bytes().replace(b"</ossec_config>", b"  <!-- caf\xe9 -->\n</ossec_config>", 1)
    conf.write_bytes(original)
    result = install(root, "--level", "9")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    new = conf.read_bytes()
    assert b"caf\xe9" in new and b"<level>9</level>" in new
    result = install(root, "--uninstall")
    assert result.returncode == 0, result.stderr
    latin1 = b"  <!-- caf\xe9 -->\n</ossec_config>"
    assert conf.read_bytes() == lived_in_conf().replace(b"</ossec_config>", latin1, 1)  # every byte as it was


def test_an_unusable_output_dir_is_refused(installed, tmp_path):
    root = copy_tree(installed, tmp_path)
    locked = root / "srv/locked"
    locked.mkdir(parents=True)
    locked.chmod(0o755)
    before = snapshot(root)
    result = install(root, "--output-dir", "/srv/locked")
    assert result.returncode == 1
    assert f"--output-dir (the local sink) {locked} is root:root 0755" in result.stderr
    assert "the account cannot write it" in result.stderr and "chown wazuh:wazuh" in result.stderr
    assert snapshot(root) == before
    assert stat.S_IMODE(locked.stat().st_mode) == 0o755


def test_symlinks_planted_for_the_next_pids_receive_nothing(installed, tmp_path, wazuh_ids):
    """``wazuh`` plants ``etc/.ossec.conf.<pid>.tmp`` (and the settings file's) for every pid to come."""
    root = copy_tree(installed, tmp_path)
    target = root / "etc/victim"
    target.write_text("root's own file\n")
    target.chmod(0o600)
    etc = root / ETC
    start = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
    for pid in range(start + 1, min(start + 3000, int(Path("/proc/sys/kernel/pid_max").read_text()))):
        for name in ("ossec.conf", "wazuh-ocsf.conf", "ossec.conf.wazuh-ocsf-backup"):
            link = etc / f".{name}.{pid}.tmp"
            link.symlink_to(target)
            as_wazuh(link, *wazuh_ids)
    before = outside(snapshot(root))
    result = install(root, "--level", "9", "--region", "eu-central-1")
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "root's own file\n" and owner_mode(target) == (0, 0, 0o600)
    assert outside(snapshot(root)) == before
    assert b"<level>9</level>" in (etc / "ossec.conf").read_bytes()
    assert not (etc / "ossec.conf").is_symlink()
