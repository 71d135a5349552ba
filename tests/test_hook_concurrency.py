"""Hooks in parallel while a flusher-like reader seals and consumes: every alert read exactly once."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from hook_support import INTEGRATION, REDIRECT, REPO_ROOT, Home, alert_bytes, finding_uid_of, numbered_alert

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.mapping import finding_uid
from wazuh_ocsf.spool.line import decode_line
from wazuh_ocsf.spool.store import Spool, split_lines

WORKERS = 8

# One process per worker, running the hook's main() once per alert exactly as the script does:
# a fresh settings load, mapping, lock and append each time. (Starting 4000 interpreters would
# take minutes on a CI runner; the real wrapper gets its own parallel test below.)
WORKER = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, sys.argv[2])
    from pathlib import Path
    from hook_support import REDIRECT, alert_bytes, numbered_alert
    from wazuh_ocsf.hook import run as hook
    worker, count, directory = int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
    failures = []
    for number in range(count):
        path = directory / f"custom-wazuh-ocsf-{worker}-{number}.alert"
        path.write_bytes(alert_bytes(numbered_alert(number, worker)))
        code = hook.main([sys.argv[6], str(path), "", "", "", "", "10", "3", REDIRECT])
        if code:
            failures.append((number, code))
        path.unlink()  # as integratord does
    print(json.dumps(failures))
    """
)


class Reader(threading.Thread):
    """What the flusher does: seal, read the sealed segments, release them, until told to stop."""

    def __init__(self, spool: Spool) -> None:
        super().__init__(daemon=True)
        self.spool = spool
        self.uids = []
        self.torn = []
        self.rounds = 0
        self.stop = threading.Event()
        self.error = None

    def consume(self) -> None:
        self.spool.seal_active()
        for segment in self.spool.sealed_segments():
            complete, tail = split_lines(Path(segment.path).read_bytes())
            if tail:
                self.torn.append((segment.name, tail))
            self.uids.extend(finding_uid_of(decode_line(raw)) for raw in complete.splitlines())
            self.spool.release(segment)
        self.rounds += 1

    def run(self) -> None:
        try:
            with self.spool.flush_lock():
                while not self.stop.wait(0.005):
                    self.consume()
                self.consume()  # whatever arrived last
        except Exception as exc:  # reported by the test
            self.error = exc


def _spool_for(home: Home) -> Spool:
    return Spool(load_settings(wazuh_home=str(home.root), environ={"WAZUH_OCSF_WAZUH_HOME": str(home.root)}))


def _assert_exactly_once(reader: Reader, expected: set) -> None:
    assert reader.error is None
    assert reader.torn == []
    counts = collections.Counter(reader.uids)
    assert [uid for uid, n in counts.items() if n > 1] == []  # nothing read twice
    assert set(counts) == expected  # nothing lost, nothing invented
    assert len(reader.uids) == len(expected)


def test_8_hooks_500_alerts_each_while_a_reader_consumes(tmp_path):
    home = Home(tmp_path / "ossec", segment_max_bytes="64K")
    reader = Reader(_spool_for(home))
    reader.start()
    workdir = tmp_path / "alerts"
    workdir.mkdir()
    per_worker = 500
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(REPO_ROOT),
                str(Path(__file__).parent),
                str(w),
                str(per_worker),
                str(workdir),
                str(INTEGRATION),
            ],
            env=home.env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    reader.stop.set()
    reader.join(timeout=60)
    assert [json.loads(out) for out in outputs] == [[]] * WORKERS  # every hook run exited 0
    assert reader.rounds > 2  # the reader really ran alongside the writers
    expected = {finding_uid(numbered_alert(n, w)) for w in range(WORKERS) for n in range(per_worker)}
    assert len(expected) == WORKERS * per_worker
    _assert_exactly_once(reader, expected)
    assert list((home.spool / "segments").iterdir()) == []
    assert home.dead_letters() == []


def test_real_wrapper_processes_in_parallel_while_a_reader_consumes(tmp_path):
    home = Home(tmp_path / "ossec", segment_max_bytes="8K", lock_timeout="0.05")
    reader = Reader(_spool_for(home))
    reader.start()
    per_worker = 12
    alerts = {
        (w, n): home.alert_file(alert_bytes(numbered_alert(n, w))) for w in range(WORKERS) for n in range(per_worker)
    }
    failures = []

    def worker(w: int) -> None:
        for n in range(per_worker):
            result = home.run([alerts[w, n], "", "", "", "", "10", "3", REDIRECT])
            if result.returncode != 0:
                failures.append((w, n, result.returncode, result.stderr))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    reader.stop.set()
    reader.join(timeout=60)
    assert failures == []
    assert INTEGRATION.exists()
    expected = {finding_uid(numbered_alert(n, w)) for w in range(WORKERS) for n in range(per_worker)}
    _assert_exactly_once(reader, expected)
