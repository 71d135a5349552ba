"""Durable writes: whole new file or the old one, never a part; no temporary file left behind."""

from __future__ import annotations

import json
import os
import stat

import pytest

from wazuh_ocsf import durable


def test_temp_path_is_hidden_in_the_same_directory_and_per_process(tmp_path):
    assert durable.temp_path(tmp_path / "state.json") == str(tmp_path / f".state.json.{os.getpid()}.tmp")


def test_atomic_write_replaces_the_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old\n")
    with durable.atomic_write(path) as handle:
        handle.write("new\n")
        assert path.read_text() == "old\n"  # not visible before the block ends
    assert path.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


@pytest.mark.parametrize("fsync, sync_dir", [(True, False), (False, False), (True, True)])
def test_atomic_write_binary_with_every_sync_choice(tmp_path, fsync, sync_dir):
    path = tmp_path / "a.bin"
    with durable.atomic_write(path, binary=True, fsync=fsync, sync_dir=sync_dir) as handle:
        handle.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_atomic_write_failing_block_keeps_the_old_file_and_removes_the_temp(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"), durable.atomic_write(path) as handle:
        handle.write("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_write_failing_rename_raises_oserror_and_removes_the_temp(tmp_path):
    path = tmp_path / "taken"
    (path / "child").mkdir(parents=True)  # a non-empty directory cannot be replaced by a file
    with pytest.raises(IsADirectoryError, match="Is a directory"), durable.atomic_write(path) as handle:
        handle.write("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_atomic_write_mode_is_the_creation_mode_under_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with durable.atomic_write(tmp_path / "a", mode=0o666) as handle:
            handle.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o640


def test_write_json_atomic_writes_one_sorted_line(tmp_path):
    path = tmp_path / "s.json"
    durable.write_json_atomic(path, {"b": 1, "a": [2]})
    assert path.read_text() == '{"a": [2], "b": 1}\n'
    assert json.loads(path.read_text()) == {"a": [2], "b": 1}


def test_atomic_write_never_opens_a_file_or_symlink_planted_at_a_temporary_name(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_bytes(b"secret")
    victim.chmod(0o600)
    draws = iter([b"\x00" * 6, b"\x00" * 6, b"\x01" * 6])
    monkeypatch.setattr(durable.os, "urandom", lambda n: next(draws))
    (tmp_path / ".state.json.000000000000.tmp").symlink_to(victim)  # a guess that happened to be right
    durable.write_json_atomic(tmp_path / "state.json", {"a": 1})
    assert victim.read_bytes() == b"secret" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert json.loads((tmp_path / "state.json").read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".state.json.000000000000.tmp", "state.json", "victim"]


def test_atomic_write_temporary_names_are_unpredictable(tmp_path):
    names = set()
    for _ in range(20):
        fd, name = durable.create_temp(tmp_path / "conf")
        os.close(fd)
        names.add(os.path.basename(name))
    assert len(names) == 20 and all(n.startswith(".conf.") and n.endswith(".tmp") for n in names)


def test_fsync_path_takes_files_and_directories_and_names_a_missing_one(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    durable.fsync_path(tmp_path / "f")
    durable.fsync_path(tmp_path)
    with pytest.raises(FileNotFoundError, match="No such file"):
        durable.fsync_path(tmp_path / "missing")


def test_append_durably_appends_each_chunk_and_creates_with_mode(tmp_path):
    path = tmp_path / "log.ndjson"
    old = os.umask(0)
    try:
        durable.append_durably(path, [b"a\n", b"b\n"])
    finally:
        os.umask(old)
    durable.append_durably(path, [b"c\n"])
    assert path.read_bytes() == b"a\nb\nc\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
