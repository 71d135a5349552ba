from __future__ import annotations

import pytest

from wazuh_ocsf.errors import SpoolError
from wazuh_ocsf.flush import manifest as manifests
from wazuh_ocsf.flush.manifest import Manifest, ObjectEntry
from wazuh_ocsf.flush.parquet_writer import PartPlan


def sample() -> Manifest:
    return Manifest(
        segment="node-1-20240422T142046Z-0000000007",
        segment_size=300,
        compression="zstd",
        block_ends=[100, 300],
        objects=[
            ObjectEntry(
                "node-1-20240422T142046Z-0000000007.2001.20240422.0000.zstd.parquet", 2001, "20240422", 0, 0, 0, 2
            ),
            ObjectEntry(
                "node-1-20240422T142046Z-0000000007.2001.20240422.0001.zstd.parquet", 2001, "20240422", 1, 1, 0, 3
            ),
        ],
        dead_lettered=1,
        acknowledged=["local:/out"],
    )


def test_round_trip_and_derived_values(tmp_path):
    path = manifests.save(tmp_path, sample())
    assert path == tmp_path / "manifests" / "node-1-20240422T142046Z-0000000007.json"
    loaded = manifests.load(tmp_path, sample().segment)
    assert loaded == sample()
    assert loaded.rows == 5
    assert loaded.blocks() == [(0, 100), (100, 300)]
    assert loaded.objects[1].plan() == PartPlan(2001, "20240422", 1, 0, 3)
    assert manifests.segment_names(tmp_path) == [sample().segment]
    assert [p.name for p in (tmp_path / "manifests").iterdir()] == [path.name]  # no temp file


def test_missing_manifest_is_none_and_remove_is_idempotent(tmp_path):
    assert manifests.load(tmp_path, "nope") is None
    assert manifests.segment_names(tmp_path) == []
    manifests.save(tmp_path, sample())
    manifests.remove(tmp_path, sample().segment)
    manifests.remove(tmp_path, sample().segment)
    assert manifests.segment_names(tmp_path) == []


@pytest.mark.parametrize("content", ["{not json", '{"format": 99}', "[]", '{"format": 1, "segment": "x"}'])
def test_damaged_manifest_is_an_error_that_says_what_to_do(tmp_path, content):
    path = manifests.manifest_path(tmp_path, "seg")
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(SpoolError, match=r"the manifest .*seg\.json is damaged .*the segment is kept"):
        manifests.load(tmp_path, "seg")
