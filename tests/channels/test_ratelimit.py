"""The per-sender token bucket: in memory (moved clock) and in Redis (server time)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from channels.ratelimit import InMemoryTokenBucket, RateLimit, RedisTokenBucket


class FakeClock:
    """A monotonic clock that only moves when the limiter sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_in_memory_bucket_spaces_messages_at_the_rate(clock: FakeClock) -> None:
    bucket = InMemoryTokenBucket(
        {"+15005550006": RateLimit(per_second=4)}, clock=clock, sleep=clock.sleep
    )
    assert all(bucket.acquire("+15005550006", timeout=10) for _ in range(5))
    # The first goes at once; each next one a quarter second after the previous.
    assert clock.slept == pytest.approx([0.25, 0.25, 0.25, 0.25])


def test_in_memory_bucket_allows_the_burst_after_an_idle_spell(clock: FakeClock) -> None:
    bucket = InMemoryTokenBucket(
        default=RateLimit(per_second=1, burst=3), clock=clock, sleep=clock.sleep
    )
    assert [bucket.acquire("k", timeout=0) for _ in range(4)] == [True, True, True, False]
    clock.now += 1.0  # one interval refills one token
    assert [bucket.acquire("k", timeout=0) for _ in range(2)] == [True, False]
    assert clock.slept == []


def test_in_memory_bucket_gives_up_at_once_when_the_slot_is_beyond_the_timeout(
    clock: FakeClock,
) -> None:
    bucket = InMemoryTokenBucket(default=RateLimit(per_second=1), clock=clock, sleep=clock.sleep)
    assert bucket.acquire("k", timeout=0)
    assert not bucket.acquire("k", timeout=0.5)  # next slot is 1 s away
    assert clock.slept == []
    assert bucket.acquire("k", timeout=1.0)  # the refusal reserved nothing
    assert clock.slept == pytest.approx([1.0])


def test_in_memory_bucket_keeps_senders_apart(clock: FakeClock) -> None:
    bucket = InMemoryTokenBucket(default=RateLimit(per_second=1), clock=clock, sleep=clock.sleep)
    assert bucket.acquire("+15005550006", timeout=0)
    assert bucket.acquire("MG" + "a" * 32, timeout=0)
    assert not bucket.acquire("+15005550006", timeout=0)


def test_default_limit_is_one_message_per_second_without_burst() -> None:
    bucket = InMemoryTokenBucket()
    assert bucket.limit_for("+15005550006") == RateLimit(per_second=1.0, burst=1)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    return f"pulse:test:ratelimit:{uuid.uuid4().hex}:"


def test_redis_bucket_grants_the_burst_then_refuses(redis_client: redis.Redis, prefix: str) -> None:
    bucket = RedisTokenBucket(
        redis_client, {"+15005550006": RateLimit(per_second=0.1, burst=3)}, prefix=prefix
    )
    assert [bucket.acquire("+15005550006", timeout=0) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_redis_bucket_is_shared_by_every_limiter_on_the_server(
    redis_client: redis.Redis, redis_url: str, prefix: str
) -> None:
    limits = {"+15005550006": RateLimit(per_second=0.1, burst=2)}
    one = RedisTokenBucket(redis_client, limits, prefix=prefix)
    other = RedisTokenBucket.from_url(redis_url, limits, prefix=prefix)
    assert one.acquire("+15005550006", timeout=0)
    assert other.acquire("+15005550006", timeout=0)
    assert not one.acquire("+15005550006", timeout=0)
    assert not other.acquire("+15005550006", timeout=0)
    other.close()


def test_redis_bucket_sleeps_until_its_reserved_slot(
    redis_client: redis.Redis, prefix: str
) -> None:
    slept: list[float] = []
    bucket = RedisTokenBucket(
        redis_client, default=RateLimit(per_second=0.5), prefix=prefix, sleep=slept.append
    )
    assert bucket.acquire("k", timeout=0)
    assert bucket.acquire("k", timeout=10)
    assert bucket.acquire("k", timeout=10)
    # Slots two seconds apart by the server's clock, less what passed between the calls.
    assert 1.0 < slept[0] <= 2.0
    assert 3.0 < slept[1] <= 4.0


def test_redis_bucket_expires_idle_buckets(redis_client: redis.Redis, prefix: str) -> None:
    bucket = RedisTokenBucket(redis_client, default=RateLimit(per_second=1), prefix=prefix)
    assert bucket.acquire("k", timeout=0)
    assert 0 < redis_client.pttl(prefix + "k") <= 2000
