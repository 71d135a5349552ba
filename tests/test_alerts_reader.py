from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timezone

import pytest
from alert_tree import day_alerts, day_path, line, link_live, write_day

from wazuh_ocsf.readers.alerts import AlertsReader, alert_time_ms, archive_files


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


D20, D21, D22, D23, D24 = (utc(2024, 4, day) for day in (20, 21, 22, 23, 24))


def content(path) -> bytes:
    path = str(path)
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as handle:
            return handle.read()
    with open(path, "rb") as handle:
        return handle.read()


@pytest.fixture
def tree(tmp_path):
    """Five days as a manager leaves them; day 22 is missing (a gap)."""
    alerts_dir = tmp_path / "logs" / "alerts"
    expected = []
    a20 = day_alerts(D20, 30, 1)
    write_day(day_path(alerts_dir, D20, gz=True), b"".join(map(line, a20)))
    expected += a20
    a21 = day_alerts(D21, 35, 100)
    write_day(day_path(alerts_dir, D21, gz=True), b"".join(map(line, a21[:20])))
    write_day(day_path(alerts_dir, D21, 1, gz=True), b"".join(map(line, a21[20:])))  # size rotation
    expected += a21
    a23 = day_alerts(D23, 10, 300)
    corrupt = b'{"timestamp":"2024-04-23T03:00:00.000+0000","rule":{"level":3,\n'
    torn = line(day_alerts(D23, 1, 999, )[0])[:57]
    data23 = b"".join(map(line, a23[:4])) + corrupt + b"".join(map(line, a23[4:])) + torn
    write_day(day_path(alerts_dir, D23), data23)  # not compressed yet, writer died mid-line
    expected += a23
    a24 = day_alerts(D24, 12, 500)
    unfinished = line(day_alerts(D24, 13, 600)[12])[:40]
    live_day = write_day(day_path(alerts_dir, D24), b"".join(map(line, a24)) + unfinished)
    link_live(alerts_dir, live_day)
    expected += a24
    return {
        "dir": alerts_dir,
        "expected": expected,
        "corrupt": corrupt.rstrip(b"\n"),
        "torn": torn,
        "unfinished": unfinished,
        "path23": str(day_path(alerts_dir, D23)),
        "offset_corrupt": len(b"".join(map(line, a23[:4]))),
        "offset_torn": len(data23) - len(torn),
    }


def read_all(reader):
    return [(json.loads(data), item.path, offset) for data, item, offset in reader]


def test_reads_every_alert_once_in_time_order_and_dead_letters_bad_lines(tree):
    bad = []
    reader = AlertsReader(
        str(tree["dir"]),
        since=utc(2024, 4, 20),
        until=utc(2024, 4, 25),
        on_bad=lambda reason, item, offset, data: bad.append((reason.split(":")[0], item.path, offset, data)),
    )
    got = read_all(reader)
    assert [alert for alert, _path, _offset in got] == tree["expected"]
    # every offset points at the line's bytes in the uncompressed file
    for alert, path, offset in got:
        assert content(path)[offset:].split(b"\n", 1)[0] == line(alert).rstrip(b"\n")
    assert bad == [
        ("not an alert", tree["path23"], tree["offset_corrupt"], tree["corrupt"]),
        ("torn last line (no newline at the end of the file)", tree["path23"], tree["offset_torn"], tree["torn"]),
    ]
    stats = reader.stats
    assert (stats.alerts, stats.bad_lines, stats.skipped_files) == (len(tree["expected"]), 2, [])
    # the live file's unfinished line is the manager's, still being written: left for later
    assert stats.pending_tail == len(tree["unfinished"])
    assert stats.missing_days == [utc(2024, 4, 22).date()]
    assert stats.files_read == 5  # alerts.json is day 24's file, read once


def test_live_file_is_the_day_archive_by_inode(tree):
    files = archive_files(str(tree["dir"]))
    assert [(os.path.basename(f.path), f.live) for f in files] == [
        ("ossec-alerts-20.json.gz", False),
        ("ossec-alerts-21.json.gz", False),
        ("ossec-alerts-21-001.json.gz", False),
        ("ossec-alerts-23.json", False),
        ("ossec-alerts-24.json", True),
    ]
    assert [f.label for f in files][:3] == ["2024/Apr/ossec-alerts-20", "2024/Apr/ossec-alerts-21",
                                             "2024/Apr/ossec-alerts-21-001"]


def test_range_is_exact_by_timestamp(tree):
    since, until = utc(2024, 4, 21, 2, 0), utc(2024, 4, 23, 0, 40)
    got = [alert for alert, _p, _o in read_all(AlertsReader(str(tree["dir"]), since=since, until=until))]
    expected = [a for a in tree["expected"] if since.timestamp() * 1000 <= alert_time_ms(line(a)) < until.timestamp()
                * 1000]
    assert got == expected
    assert got and got[0]["timestamp"].startswith("2024-04-21T02:")


def test_resume_from_a_position_inside_a_gzipped_file(tree):
    first = read_all(AlertsReader(str(tree["dir"])))
    _alert, path, offset = first[40]  # inside ossec-alerts-21.json.gz
    label = "2024/Apr/ossec-alerts-21"
    assert path.endswith("ossec-alerts-21.json.gz")
    resumed = read_all(AlertsReader(str(tree["dir"]), start=(label, offset)))
    assert resumed == first[40:]


def test_position_survives_compression_of_the_file(tree):
    """A position taken while day 23 was plain still applies after monitord gzipped it."""
    first = read_all(AlertsReader(str(tree["dir"])))
    index = next(i for i, (_a, path, _o) in enumerate(first) if path == tree["path23"]) + 3
    offset = first[index][2]
    plain = tree["path23"]
    write_day(day_path(tree["dir"], D23, gz=True), content(plain))
    os.unlink(plain)
    resumed = read_all(AlertsReader(str(tree["dir"]), start=("2024/Apr/ossec-alerts-23", offset)))
    assert [a for a, _p, _o in resumed] == [a for a, _p, _o in first[index:]]
    assert resumed[0][1] == plain + ".gz"


def test_plain_and_gzipped_copies_of_a_day_are_read_once(tree):
    plain = day_path(tree["dir"], D20)
    write_day(plain, content(day_path(tree["dir"], D20, gz=True)))  # monitord mid-compression
    got = read_all(AlertsReader(str(tree["dir"]), until=utc(2024, 4, 21)))
    assert [a for a, _p, _o in got] == tree["expected"][:30]
    assert {p for _a, p, _o in got} == {str(plain)}


def test_archive_gzipped_between_listing_and_reading_is_read_from_gz(tree):
    reader = AlertsReader(str(tree["dir"]))
    reader.files()
    plain = tree["path23"]
    write_day(day_path(tree["dir"], D23, gz=True), content(plain))
    os.unlink(plain)
    assert [a for a, _p, _o in read_all(reader)] == tree["expected"]
    assert reader.stats.skipped_files == []


def test_missing_and_damaged_archives_are_reported_and_skipped(tree):
    damaged = day_path(tree["dir"], D21, gz=True)
    whole = damaged.read_bytes()
    damaged.write_bytes(whole[: len(whole) // 2])  # truncated gzip: ends before its end marker
    bad = []
    reader = AlertsReader(str(tree["dir"]), on_bad=lambda *args: bad.append(args))
    reader.files()
    os.unlink(day_path(tree["dir"], D20, gz=True))  # deleted after listing
    got = [a for a, _p, _o in read_all(reader)]
    reasons = dict(reader.stats.skipped_files)
    assert set(reasons) == {str(day_path(tree["dir"], D20, gz=True)), str(damaged)}
    assert "cannot open it" in reasons[str(day_path(tree["dir"], D20, gz=True))]
    assert "damaged after" in reasons[str(damaged)]
    # what came before the damage is kept, the rest of the tree is read
    a21 = tree["expected"][30:50]
    assert got[: len(got) - 15 - 10 - 12] == a21[: len(got) - 37]
    assert got[-37:] == tree["expected"][50:]


def test_not_gzip_at_all_is_skipped(tree):
    path = day_path(tree["dir"], D20, gz=True)
    path.write_bytes(b"this is not gzip data\n")
    reader = AlertsReader(str(tree["dir"]))
    got = [a for a, _p, _o in read_all(reader)]
    assert got == tree["expected"][30:]
    assert [p for p, _r in reader.stats.skipped_files] == [str(path)]


def test_whole_alert_without_final_newline_in_a_finished_file_is_kept(tmp_path):
    alerts_dir = tmp_path / "alerts"
    alerts = day_alerts(D20, 3)
    write_day(day_path(alerts_dir, D20), b"".join(map(line, alerts)).rstrip(b"\n"))
    assert [a for a, _p, _o in read_all(AlertsReader(str(alerts_dir)))] == alerts


def test_live_file_not_linked_to_an_archive_is_read_last(tmp_path):
    alerts_dir = tmp_path / "alerts"
    write_day(day_path(alerts_dir, D20), b"".join(map(line, day_alerts(D20, 2))))
    write_day(alerts_dir / "alerts.json", b"".join(map(line, day_alerts(D21, 2, 50))))
    files = archive_files(str(alerts_dir))
    assert [(f.label, f.live) for f in files] == [("2024/Apr/ossec-alerts-20", False), ("alerts.json", True)]
    got = [a for a, _p, _o in read_all(AlertsReader(str(alerts_dir)))]
    assert got == day_alerts(D20, 2) + day_alerts(D21, 2, 50)


def test_timestamp_anywhere_in_the_object_and_bad_ones():
    assert alert_time_ms(b'{"rule":{},"timestamp":"2024-04-22T14:20:46.976+0000"}') == 1713795646976
    assert alert_time_ms(b'{"timestamp":"2024-04-22T16:20:46.976+0200","rule":{}}') == 1713795646976
    with pytest.raises(ValueError, match="no timestamp"):
        alert_time_ms(b'{"rule":{}}')
    with pytest.raises(ValueError, match="not a JSON object"):
        alert_time_ms(b"[1,2]")
    with pytest.raises(ValueError, match="not valid JSON"):
        alert_time_ms(b'{"timestamp":')
    with pytest.raises(ValueError, match="not an ISO 8601"):
        alert_time_ms(b'{"timestamp":"yesterday"}')
