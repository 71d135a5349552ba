from __future__ import annotations

import os
from pathlib import Path

import pytest
from flush_support import make_settings

from wazuh_ocsf.errors import ConfigError, SinkError
from wazuh_ocsf.sinks.base import ParquetObject, object_key
from wazuh_ocsf.sinks.local import LocalSink
from wazuh_ocsf.sinks.registry import build_sinks


def staged(tmp_path: Path, name: str, content: bytes, class_uid: int = 2001, day: str = "20240422") -> ParquetObject:
    path = tmp_path / "staging" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return ParquetObject(name, class_uid, day, path, 1, len(content))


def test_objects_land_at_their_security_lake_keys(tmp_path):
    settings = make_settings(tmp_path)
    sink = LocalSink(settings, tmp_path / "out")
    one = staged(tmp_path, "a.parquet", b"one")
    two = staged(tmp_path, "b.parquet", b"two", class_uid=2004, day="20240423")
    sink.deliver([one, two])
    assert (
        tmp_path / "out/ext/wazuh/region=eu-west-1/accountId=123456789012/eventDay=20240422/a.parquet"
    ).read_bytes() == b"one"
    assert (tmp_path / "out" / object_key(settings, two)).read_bytes() == b"two"
    assert object_key(settings, two).startswith(
        "ext/wazuhdet/region=eu-west-1/accountId=123456789012/eventDay=20240423/"
    )
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["a.parquet", "b.parquet"]
    assert sink.describe() == f"local:{tmp_path / 'out'}"


def test_delivering_again_replaces_the_object(tmp_path):
    settings = make_settings(tmp_path)
    sink = LocalSink(settings, tmp_path / "out")
    sink.deliver([staged(tmp_path, "a.parquet", b"first")])
    sink.deliver([staged(tmp_path, "a.parquet", b"second")])
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in files] == [b"second"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_directory_raises_sink_error_naming_the_file(tmp_path):
    settings = make_settings(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out").chmod(0o555)
    with pytest.raises(
        SinkError, match=r"Failed to write a\.parquet to .*/eventDay=20240422/a\.parquet: Permission denied"
    ):
        LocalSink(settings, tmp_path / "out").deliver([staged(tmp_path, "a.parquet", b"x")])


def test_unwritable_output_raises_sink_error_even_as_root(tmp_path):
    settings = make_settings(tmp_path)
    (tmp_path / "out").write_text("a file where the tree should start")
    with pytest.raises(SinkError, match=r"Failed to write a\.parquet to .*out/ext/wazuh/.*: Not a directory"):
        LocalSink(settings, tmp_path / "out").deliver([staged(tmp_path, "a.parquet", b"x")])
    assert not list(tmp_path.glob("out*/**/.*tmp"))


def test_missing_destination_is_a_config_error_before_anything_is_written(tmp_path):
    settings = make_settings(tmp_path, detection_finding_source="")
    sink = LocalSink(settings, tmp_path / "out")
    with pytest.raises(ConfigError, match="WAZUH_OCSF_DETECTION_FINDING_SOURCE"):
        sink.deliver([staged(tmp_path, "a.parquet", b"1"), staged(tmp_path, "b.parquet", b"2", class_uid=2004)])
    assert not (tmp_path / "out").exists()


def test_build_sinks(tmp_path):
    settings = make_settings(tmp_path)
    with pytest.raises(ConfigError, match="no destination"):
        build_sinks(settings)
    (sink,) = build_sinks(settings, str(tmp_path / "cli"))
    assert sink.describe() == f"local:{tmp_path / 'cli'}"
    (sink,) = build_sinks(make_settings(tmp_path, output_dir=str(tmp_path / "setting")))
    assert sink.describe() == f"local:{tmp_path / 'setting'}"
