"""Messages-per-second limits per sender, shared by every worker process and host.

A carrier lets a long code send about one message per second; a sender that
goes faster gets queued, filtered or blocked. The limit belongs to the sender
(a From number or a Messaging Service), not to a process, so the buckets live
in Redis and every worker draws from the same one.

Both implementations are a token bucket written as GCRA (the generic cell rate
algorithm): instead of a token count the bucket stores the "theoretical arrival
time" of the next message, which needs one number and no refill loop. A caller
reserves the earliest slot it may send in, if that slot is within its timeout,
then sleeps until it. Reserving (rather than polling until a token appears)
serves waiters first come first served and makes one Redis call per message.
A reservation whose caller then dies is simply lost capacity, never extra sends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import redis


@dataclass(frozen=True)
class RateLimit:
    per_second: float  # sustained rate
    burst: int = 1  # how many may go back to back after an idle spell; 1 for a long code

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError(f"rate limit needs per_second > 0 and burst >= 1, got {self}")


DEFAULT_LIMIT = RateLimit(per_second=1.0, burst=1)  # a US long code: 1 MPS


class RateLimiterUnavailable(Exception):
    """The shared limiter cannot be asked (Redis down): nothing may be sent, try again later."""


class RateLimiter(Protocol):
    def acquire(self, key: str, timeout: float) -> bool:
        """Wait until ``key`` may send one message; False if that is more than ``timeout`` away.

        Returns at once with False when the earliest slot is beyond the
        timeout (nothing is reserved then); otherwise sleeps until the slot.
        Raises ``RateLimiterUnavailable`` when the limiter cannot be reached.
        """
        ...


class _Limits:
    def __init__(self, limits: Mapping[str, RateLimit] | None, default: RateLimit) -> None:
        self._limits = dict(limits or {})
        self._default = default

    def limit_for(self, key: str) -> RateLimit:
        return self._limits.get(key, self._default)


def _reserve(tat: float, now: float, interval: float, burst: int, max_wait: float) -> float | None:
    """GCRA step: the wait before this message's slot, or None if beyond ``max_wait``.

    ``tat`` is when the bucket would be full again at the sustained rate. The
    bucket holds ``burst`` tokens, so a message may go ``(burst - 1)`` intervals
    before that. The caller stores ``max(tat, now) + interval`` when it gets a slot.
    """
    tat = max(tat, now)
    wait = max(0.0, tat - (burst - 1) * interval - now)
    return None if wait > max_wait else wait


class InMemoryTokenBucket:
    """The same limiter for one process (the embedded mode). Thread-safe."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        default: RateLimit = DEFAULT_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limits = _Limits(limits, default)
        self._clock = clock
        self._sleep = sleep
        self._tats: dict[str, float] = {}
        self._lock = threading.Lock()

    def limit_for(self, key: str) -> RateLimit:
        return self._limits.limit_for(key)

    def acquire(self, key: str, timeout: float) -> bool:
        limit = self.limit_for(key)
        interval = 1.0 / limit.per_second
        with self._lock:
            now = self._clock()
            tat = self._tats.get(key, now)
            wait = _reserve(tat, now, interval, limit.burst, timeout)
            if wait is None:
                return False
            self._tats[key] = max(tat, now) + interval
        if wait > 0:
            self._sleep(wait)
        return True


# KEYS[1]: the bucket. ARGV: interval and max wait in microseconds, burst.
# Time comes from the Redis server (TIME), so workers on hosts with skewed
# clocks share one timeline. Microseconds since the epoch fit a Lua double
# exactly; they are written with %.0f because tostring() keeps only 14 digits.
# Redis 5+ replicates a script by its effects, so TIME followed by a write is allowed.
_GCRA_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - (burst - 1) * interval - now
if wait < 0 then wait = 0 end
if wait > max_wait then return -1 end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
           'PX', math.ceil((new_tat - now) / 1000) + 1000)
return math.floor(wait)
"""


class RedisTokenBucket:
    """Per-sender buckets in Redis, shared by every process that uses the same server and prefix."""

    def __init__(
        self,
        client: redis.Redis,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        default: RateLimit = DEFAULT_LIMIT,
        prefix: str = "pulse:ratelimit:",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis = client
        self._limits = _Limits(limits, default)
        self._prefix = prefix
        self._sleep = sleep
        self._script = client.register_script(_GCRA_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        default: RateLimit = DEFAULT_LIMIT,
        prefix: str = "pulse:ratelimit:",
    ) -> RedisTokenBucket:
        return cls(redis.Redis.from_url(url), limits, default=default, prefix=prefix)

    def limit_for(self, key: str) -> RateLimit:
        return self._limits.limit_for(key)

    def acquire(self, key: str, timeout: float) -> bool:
        """As ``RateLimiter.acquire``."""
        limit = self.limit_for(key)
        interval_us = 1_000_000 / limit.per_second
        try:
            wait_us = int(
                self._script(
                    keys=[self._prefix + key],
                    args=[interval_us, max(0.0, timeout) * 1_000_000, limit.burst],
                )
            )
        except redis.RedisError as exc:
            raise RateLimiterUnavailable(f"rate limiter at Redis unavailable: {exc}") from exc
        if wait_us < 0:
            return False
        if wait_us > 0:
            self._sleep(wait_us / 1_000_000)
        return True

    def close(self) -> None:
        self._redis.close()
