"""A process that writes the outbox's files from its spool, beside the process that sends.

Rendering MIME and creating a file take ~250 µs a message; in a thread of the sending
process that would take the GIL from the step that is sending (a step's sends pause
whenever its planning lags, so "after sends pause" comes far too often on a busy box).
The sending process starts one expander per outbox folder (niced: it takes the CPU the
step leaves), hands it each spool's path through a pipe as the spool is written, and goes
on. The expander exits when its pipe closes (the sender closed its channels, or died),
once it has written what it was given, or after ``IDLE_EXIT_SECONDS`` without work; the
sender starts another when it next sends and hands it the spools the last one may have
missed. Whatever an expander never got to stays on disk for the next expansion or reader.

    python -m channels.outbox_expander <folder>   # one spool path a line on stdin
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
import threading
from pathlib import Path

from channels.outbox_spool import expand_spool

log = logging.getLogger(__name__)
IDLE_EXIT_SECONDS = 10.0
NICENESS = 10  # below the sending process, so the files wait rather than the step


class SpoolExpander:
    """The sending process's side: starts the expander process and hands it spools."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._handed: set[Path] = set()  # handed to an expander, not yet seen gone (one path per send call)

    def hand(self, spool: Path) -> None:
        """Have the spool expanded soon. Never raises: a spool no expander takes stays on disk."""
        with self._lock:
            self._handed = {path for path in self._handed if path.exists()} if len(self._handed) > 64 else self._handed
            self._handed.add(spool)
            process = self._process
            try:
                if process is None or process.poll() is not None:
                    # The last one ended (idle, or killed): it may not have read what it was last handed.
                    process = self._process = self._start()
                    lines = [path for path in sorted(self._handed) if path.exists()]
                else:
                    lines = [spool]
                assert process.stdin is not None
                process.stdin.write(b"".join(f"{os.path.abspath(path)}\n".encode() for path in lines))
                process.stdin.flush()
            except OSError:  # a broken pipe, or no process: the next send starts one and hands these again
                log.warning("outbox: the expander of %s could not take %s", self.directory, spool, exc_info=True)
                self._process = None

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "channels.outbox_expander", str(self.directory)],
                                stdin=subprocess.PIPE, close_fds=True)

    def close(self) -> None:
        """Close the pipe and wait until the expander has written what it was handed."""
        with self._lock:
            process, self._process = self._process, None
            self._handed.clear()
        if process is not None:
            try:
                assert process.stdin is not None
                process.stdin.close()
            except OSError:
                pass
            process.wait()


def serve(fd: int) -> None:
    """Expand each spool named on ``fd`` (a line each) until it closes or stays quiet."""
    pending = b""
    while True:
        if b"\n" not in pending:
            ready, _, _ = select.select([fd], [], [], IDLE_EXIT_SECONDS)
            if not ready:
                return  # quiet: the sender starts another when it sends again
            chunk = os.read(fd, 65536)
            if not chunk:
                return  # the sender closed its channels or ended
            pending += chunk
            continue
        line, _, pending = pending.partition(b"\n")
        try:
            expand_spool(Path(line.decode()))
        except Exception:  # a full disk: the spool stays for the next expansion
            log.exception("outbox: could not expand %s", line.decode(errors="replace"))


if __name__ == "__main__":
    try:
        os.nice(NICENESS)
    except OSError:
        pass
    serve(sys.stdin.fileno())
