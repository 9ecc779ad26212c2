"""The requests a process is serving right now, so its embedded worker can give way to them."""

from __future__ import annotations

import time

GIVE_WAY_AT_MOST = 0.02  # seconds a worker waits at one point: the follow-through still keeps pace under load
_POLL = 0.0005


class RequestsInFlight:
    """A count of the API requests in flight in this process (the API's middleware keeps it,
    from a request's start until its response is sent, background tasks not included).

    The embedded worker (`pulse run`) runs the answers' follow-through in the API's process,
    under the same GIL: while it computes, a request that has its database answer waits for
    the interpreter. So between steps of its work it waits while a request is in flight (at
    most ``GIVE_WAY_AT_MOST`` each time). A process that serves no requests (a Celery
    worker) never waits.
    """

    def __init__(self) -> None:
        self.count = 0  # changed on the event loop's thread only

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1

    def give_way(self, most: float = GIVE_WAY_AT_MOST) -> None:
        """Wait while a request is in flight, at most ``most`` seconds; at least let another thread run."""
        if not self.count:
            time.sleep(0)
            return
        deadline = time.monotonic() + most
        while self.count and time.monotonic() < deadline:
            time.sleep(_POLL)
