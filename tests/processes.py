"""Stopping a subprocess that was started in its own session (`start_new_session=True`), with
every process it started. No Django here: the benches (bench/) use it too."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def process_groups_stop(*processes: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM each process group, then SIGKILL any whose leader is still running `timeout`
    seconds later. A group that is already gone is not an error."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
