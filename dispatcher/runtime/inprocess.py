"""The embedded worker: a thread in the API process that runs the scheduler tick,
with every task it hands out run inline. One process, no broker (`pulse run`)."""

from __future__ import annotations

import logging
import sys
import threading
import time

from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.001  # seconds


class InProcessWorker:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.last_tick: float | None = None  # wall time (time.time()) of the last finished tick, for status
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pulse-worker", daemon=True)

    def start(self) -> None:
        self.runtime.extras["inprocess_worker"] = self
        # A request thread whose database answer came back waits for the GIL while this thread
        # computes: at most the switch interval (5 ms by default, at every round trip of the request).
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                tick(self.runtime)
                self.last_tick = time.time()
            except Exception:  # keep ticking; the next tick retries what failed
                log.exception("scheduler tick failed")
            self._stop.wait(self.runtime.settings.tick_seconds)
