"""Small segments flushed as batches: one conversion, one manifest, one set of objects, exactly once.

The crash points of a batch (``release-member`` among them) are in test_flusher.py and
test_s3_flush.py; here: how batches are formed and kept, and what a retry does with them.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

from flush_support import make_events, make_settings, spool_events, tree_uids, uid_of, varied
from test_flusher import CountingLocalSink, FlakySink, assert_exactly_once, assert_spool_drained

from wazuh_ocsf.flush import manifest as manifests
from wazuh_ocsf.flush.flusher import flush
from wazuh_ocsf.spool.store import Spool

SEGMENT = "8K"  # two or three events per segment


def small_segments(tmp_path: Path, count: int = 60):
    settings = make_settings(tmp_path, segment_max_bytes=SEGMENT)
    events = make_events(count, days=2)
    spool_events(settings, events)
    Spool(settings).seal_active()
    return settings, events, Spool(settings).sealed_segments()


def test_small_segments_become_one_conversion_one_manifest_and_one_set_of_objects(tmp_path):
    settings, events, segments = small_segments(tmp_path)
    assert len(segments) > 15
    out = tmp_path / "lake"
    sink = CountingLocalSink(settings, out)

    result = flush(settings, [sink])

    assert result.ok, result.failures
    assert (result.segments, result.events) == (len(segments), len(events))
    assert sink.calls == 1
    names = [path.name for path in out.rglob("*.parquet")]
    # One object per class and day (two days here), named after the batch's first segment.
    assert len(names) == result.objects == 2
    assert all(name.startswith(f"{segments[0].name}.2001.") for name in names)
    assert_exactly_once(out, events)
    assert_spool_drained(settings)


def test_batches_stay_within_the_block_size_and_keep_segment_order(tmp_path):
    settings, _, segments = small_segments(tmp_path)
    block = 30_000
    expected, run = [], 0
    for segment in segments:  # consecutive segments while they fit in one block
        if not expected or run + segment.size > block:
            expected.append(segment.name)
            run = 0
        run += segment.size
    flaky = FlakySink(fail=True)

    result = flush(settings, [CountingLocalSink(settings, tmp_path / "lake"), flaky], block_bytes=block)

    assert manifests.segment_names(settings.spool_dir) == expected
    claimed = []
    for name in expected:
        manifest = manifests.load(settings.spool_dir, name)
        claimed += manifest.segment_names()
        assert manifest.segment_size + sum(m["size"] for m in manifest.members) <= block or not manifest.members
    assert claimed == [segment.name for segment in segments]
    assert result.left == len(segments)


def test_a_retry_rebuilds_the_same_batch_with_a_bigger_block_size(tmp_path):
    settings, events, segments = small_segments(tmp_path)
    out = tmp_path / "lake"
    first = flush(settings, [CountingLocalSink(settings, out), FlakySink(fail=True)], block_bytes=30_000)
    assert first.left == len(segments)
    first_names = sorted(path.name for path in out.rglob("*.parquet"))

    flaky = FlakySink(fail=False)
    result = flush(settings, [CountingLocalSink(settings, out), flaky])  # default block: 32 MiB

    assert result.ok, result.failures
    assert sorted(flaky.names) == first_names == sorted(path.name for path in out.rglob("*.parquet"))
    assert_exactly_once(out, events)
    assert_spool_drained(settings)


def test_a_batch_member_gone_before_every_sink_has_it_is_kept_never_doubled(tmp_path):
    settings, _, segments = small_segments(tmp_path)
    out = tmp_path / "lake"
    flush(settings, [CountingLocalSink(settings, out), FlakySink(fail=True)], block_bytes=30_000)
    lead = manifests.segment_names(settings.spool_dir)[0]
    manifest = manifests.load(settings.spool_dir, lead)
    gone = manifest.segment_names()[0]
    os.unlink(next(s.path for s in segments if s.name == gone))  # what drop-oldest does at the cap
    kept = [s.name for s in Spool(settings).sealed_segments() if s.name in manifest.segment_names()]

    result = flush(settings, [CountingLocalSink(settings, out), FlakySink(fail=False)], block_bytes=30_000)

    assert not result.ok
    (failure,) = [f for f in result.failures if f.startswith(lead)]
    assert f"{gone} of this batch left the spool" in failure and "move " in failure
    assert [s.name for s in Spool(settings).sealed_segments() if s.name in manifest.segment_names()] == kept
    assert set(collections.Counter(tree_uids(out)).values()) == {1}  # nothing twice


def test_a_damaged_batch_manifest_holds_every_segment_that_could_be_in_its_batch(tmp_path):
    settings, events, segments = small_segments(tmp_path)
    out = tmp_path / "lake"
    flush(settings, [CountingLocalSink(settings, out), FlakySink(fail=True)])
    (lead,) = manifests.segment_names(settings.spool_dir)
    manifests.manifest_path(settings.spool_dir, lead).write_text("{")
    late = [varied(event, "late") for event in make_events(10, days=1)]
    spool_events(settings, late)

    result = flush(settings, [CountingLocalSink(settings, out)])

    assert len(result.failures) == 1 and "is damaged" in result.failures[0]
    # Held: every segment of the batch, and the later ones that would have fitted in it.
    assert result.left == len(Spool(settings).sealed_segments()) > len(segments)
    assert collections.Counter(tree_uids(out)) == collections.Counter(uid_of(e) for e in events)


def test_dead_letters_of_a_batch_name_their_own_segment_and_line(tmp_path):
    from wazuh_ocsf.spool import dead_letter

    settings, events, segments = small_segments(tmp_path, count=20)
    victim = segments[2]
    lines = Path(victim.path).read_bytes().split(b"\n")
    lines[1] = b"not json"
    Path(victim.path).write_bytes(b"\n".join(lines))
    with open(segments[4].path, "ab") as handle:
        handle.write(b'{"torn')

    result = flush(settings, [CountingLocalSink(settings, tmp_path / "lake")])

    assert result.ok and result.dead_lettered == 2
    sources = sorted(record["source"] for record in dead_letter.iter_records(settings.spool_dir))
    assert sources == sorted([f"{victim.path}:2", f"{segments[4].path}:end"])
    assert result.events == len(events) - 1
