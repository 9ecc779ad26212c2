"""Request limits for the public answer endpoints: per client IP and per link token.

Links and in-app identities are capabilities anyone holding them may use, so a
client that hammers them is slowed down with 429 and ``Retry-After``. The
counters are fixed one-minute windows: in Redis when ``PULSE_REDIS_URL`` is set
(shared by every API process), in memory otherwise (``pulse run``). A Redis
outage lets requests through: an answer must never be lost to a rate limiter.
Tokens are hashed before they become keys, so Redis never holds a usable link.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Protocol

import redis
from fastapi import Request

from dispatcher.runtime.core import Runtime

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
KEY_PREFIX = "pulse:answers:rl:"

# INCR and set the expiry on the first hit, atomically.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RateLimited(Exception):
    """Over a limit; try again after ``retry_after`` seconds."""

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"too many requests for this {scope}; retry after {retry_after} s")
        self.scope = scope  # "ip" or "token"
        self.retry_after = retry_after


class Counter(Protocol):
    def hit(self, key: str, *, window: int, now: float) -> int:
        """Count one request under ``key`` in the window containing ``now``; the count so far."""
        ...


class MemoryCounter:
    """Counters for one process. Thread-safe; old windows are dropped as time moves on."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, window: int, now: float) -> int:
        slot = int(now // window)
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= slot}
            count = self._counts.get((key, slot), 0) + 1
            self._counts[(key, slot)] = count
            return count


class RedisCounter:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._script = self._client.register_script(_HIT)

    def hit(self, key: str, *, window: int, now: float) -> int:
        slot = int(now // window)
        try:
            return int(self._script(keys=[f"{KEY_PREFIX}{key}:{slot}"], args=[window + 1]))
        except redis.RedisError as exc:
            log.warning("answer rate limiter unavailable, letting the request through: %s", exc)
            return 0


_build_lock = threading.Lock()


def counter_for(runtime: Runtime) -> Counter:
    """The process's counter, made once per runtime."""
    with _build_lock:
        counter = runtime.extras.get("answer_rate_counter")
        if counter is None:
            url = runtime.settings.redis_url
            counter = RedisCounter(url) if url else MemoryCounter()
            runtime.extras["answer_rate_counter"] = counter
        return counter


def wall_time() -> float:
    """Seconds since the epoch: limits protect real servers, so they count in real time."""
    return time.time()


def client_ip(request: Request) -> str:
    """The peer address (behind a proxy, run uvicorn with ``--proxy-headers``)."""
    return request.client.host if request.client else "unknown"


def check_rate(runtime: Runtime, request: Request, *, token: str) -> None:
    """Count this request for its IP and its token; raise ``RateLimited`` over either limit."""
    counter = counter_for(runtime)
    settings = runtime.settings
    now = wall_time()
    retry_after = max(1, int(WINDOW_SECONDS - now % WINDOW_SECONDS) + 1)
    if counter.hit(f"ip:{client_ip(request)}", window=WINDOW_SECONDS, now=now) > settings.answer_rate_per_ip:
        raise RateLimited("ip", retry_after)
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    if counter.hit(f"token:{digest}", window=WINDOW_SECONDS, now=now) > settings.answer_rate_per_token:
        raise RateLimited("token", retry_after)
