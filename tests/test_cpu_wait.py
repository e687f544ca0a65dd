"""Run-queue waits of the processes that carry streams, read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cpu_wait import CpuWaits, available


class FakeProc:
    """A /proc holding just the processes a test gives it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def process(self, pid: int, parent: int, name: str, cmdline: bytes = b"") -> None:
        folder = self.root / str(pid)
        (folder / "task").mkdir(parents=True)
        (folder / "stat").write_text(f"{pid} ({name}) S {parent} 1 1 0")
        (folder / "comm").write_text(f"{name}\n")
        (folder / "cmdline").write_bytes(cmdline)

    def waited(self, pid: int, tid: int, nanoseconds: int, thread_name: str = "main") -> None:
        task = self.root / str(pid) / "task" / str(tid)
        task.mkdir(exist_ok=True)
        (task / "comm").write_text(f"{thread_name}\n")
        (task / "schedstat").write_text(f"123 {nanoseconds} 4\n")


@pytest.fixture
def proc(tmp_path: Path) -> FakeProc:
    fake = FakeProc(tmp_path)
    fake.process(100, 1, "python3.11")  # the harness
    fake.process(101, 100, "toxiproxy-serve")
    fake.process(102, 100, "node-MainThread")  # Playwright's driver carries no stream
    fake.process(103, 102, "chromium")
    fake.process(104, 103, "chromium")
    fake.process(105, 100, "python3.11", b"python\x00-m\x00reference_server\x00")
    fake.process(106, 100, "python3.11", b"python\x00-m\x00something_else\x00")
    fake.process(108, 100, "haproxy")  # a deployment's balancer
    fake.process(200, 1, "chromium")  # someone else's browser
    fake.process(201, 1, "we(ird) name")
    return fake


def test_each_role_gives_the_longest_wait_of_one_of_its_threads_since_the_last_sample(proc: FakeProc) -> None:
    for pid, tid in ((101, 101), (101, 111), (103, 103), (104, 104), (105, 105), (106, 106), (200, 200)):
        proc.waited(pid, tid, 1_000_000)
    waits = CpuWaits(root=100, proc=proc.root)
    assert waits.sample(0.0) == {}  # nothing to compare with yet
    proc.waited(101, 101, 3_000_000)  # 2 ms
    proc.waited(101, 111, 6_000_000)  # 5 ms: the role's longest, not the sum
    proc.waited(104, 104, 51_000_000)  # a grandchild of the harness
    proc.waited(105, 105, 1_500_000)
    proc.waited(106, 106, 9_000_000)  # not a role
    proc.waited(200, 200, 90_000_000)  # not the harness's
    assert waits.sample(0.05) == {"toxiproxy": 5_000, "browser": 50_000, "target": 500}


def test_only_the_threads_a_stream_goes_through_count(proc: FakeProc) -> None:
    threads = {
        (103, 113, "ThreadPoolForeg"): 4_000_000_000,  # a browser's background pool: seconds, at low priority
        (104, 114, "Chrome_ChildIOT"): 30_000_000,  # a renderer's IO thread
        (105, 115, "asyncio_0"): 900_000_000,  # a thread of the target beside its event loop
        (101, 121, "toxiproxy-serve"): 20_000_000,  # any thread of Toxiproxy may run a goroutine
        (108, 118, "haproxy"): 7_000_000,  # any thread of the balancer may carry a connection
    }
    for pid, tid, name in threads:
        proc.waited(pid, tid, 0, name)
    waits = CpuWaits(root=100, proc=proc.root)
    waits.sample(0.0)
    for (pid, tid, name), nanoseconds in threads.items():
        proc.waited(pid, tid, nanoseconds, name)
    assert waits.sample(0.05) == {"browser": 30_000, "toxiproxy": 20_000, "balancer": 7_000}


def test_a_thread_seen_first_counts_from_the_next_sample_and_a_process_that_ended_from_none(proc: FakeProc) -> None:
    proc.waited(101, 101, 1_000_000)
    waits = CpuWaits(root=100, proc=proc.root)
    waits.sample(0.0)
    proc.waited(101, 102, 70_000_000)  # a new thread, with waits from before this harness watched it
    assert waits.sample(0.05) == {"toxiproxy": 0}
    proc.waited(101, 102, 72_000_000)
    assert waits.sample(0.1) == {"toxiproxy": 2_000}
    for leftover in sorted((proc.root / "101").rglob("*"), reverse=True):
        leftover.rmdir() if leftover.is_dir() else leftover.unlink()
    assert waits.sample(0.15) == {}


def test_new_processes_are_found_within_half_a_second(proc: FakeProc) -> None:
    waits = CpuWaits(root=100, proc=proc.root)
    waits.sample(0.0)
    proc.process(107, 103, "chromium")  # a page's new renderer
    proc.waited(107, 107, 1_000_000)
    waits.sample(0.1)
    proc.waited(107, 107, 2_000_000)
    assert waits.sample(0.2) == {}  # not listed yet
    waits.sample(0.5)
    proc.waited(107, 107, 4_000_000)
    assert waits.sample(0.55) == {"browser": 2_000}


@pytest.mark.skipif(not available(), reason="this kernel does not count run-queue waits")
def test_a_real_child_kept_from_a_cpu_by_busy_siblings_is_seen_waiting(tmp_path: Path) -> None:
    """More busy processes than cores: the one named like Chromium waits on a run queue."""
    named = tmp_path / "chromium"
    named.symlink_to(sys.executable)
    busy = "import time\nend = time.monotonic() + 3\nwhile time.monotonic() < end: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", busy]) for _ in range(os.cpu_count() or 1)]
    carrier = subprocess.Popen([str(named), "-c", busy])
    try:
        waits = CpuWaits()
        waits.sample(0.0)
        time.sleep(1.0)
        # a fair scheduler leaves it waiting about a third of the second on 2 cores; far above 50 ms
        assert waits.sample(1.0).get("browser", 0) > 50_000
    finally:
        for process in [*hogs, carrier]:
            process.kill()
            process.wait()
