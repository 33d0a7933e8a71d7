"""Starting a server of the project for a test: a free local port, and waiting until it answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path, seconds: float) -> None:
    """Return once ``url`` answers 200; else stop the process and fail with its log's tail."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    process.terminate()
    pytest.fail(f"{url} did not answer within {seconds:.0f} s: {log.read_text()[-3000:]}")
