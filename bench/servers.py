"""Start the reference server or the peer as a child process for a benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "reference": [sys.executable, "-m", "reference_server", "--port", "0", "--log-level", "warning"],
    "peer": [sys.executable, str(ROOT / "bench" / "peer_server.py"), "--port", "0"],
}


@dataclass
class Running:
    name: str
    url: str
    pid: int

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")


@contextmanager
def server(name: str, **env: float | int) -> Iterator[Running]:
    environment = os.environ | {key.upper(): f"{value:g}" for key, value in env.items()} | {"PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(COMMANDS[name], stdout=subprocess.PIPE, env=environment, cwd=ROOT, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"{name} server did not start: {line!r}")
        yield Running(name, line.removeprefix("listening on ").strip() + "/stream/search", process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
