"""A sender's SMS rate holds across worker processes: two OS processes, one Redis bucket, one fake.

The one timed test of the suite. The fake records when each request arrived;
in no window of t seconds may more than ``burst + rate * t`` messages arrive.
Arrival times carry a few milliseconds of scheduling and network jitter that
no client-side limiter can remove (Twilio queues rather than refuses such a
message), so the bound and the fake's own meter forgive ``JITTER`` seconds:
at 5 MPS that is a quarter of a message, so one message too many still fails.
"""

from __future__ import annotations

import multiprocessing
import uuid
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from channels.base import OutgoingMessage
from channels.ratelimit import RateLimit, RedisTokenBucket
from channels.twilio_sms import TwilioConfig, TwilioSmsChannel
from tests.fakes.twilio_fake import FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, TwilioFake

SENDER = "+15005550006"
RATE = 5.0  # messages per second for the sender
BURST = 1
DURATION = 10.0  # seconds each worker keeps sending
JITTER = 0.05


def send_for_a_while(
    worker: int, base_url: str, redis_url: str, prefix: str, start: Any
) -> list[str]:
    """One worker process: send one message at a time until DURATION is over.

    Returns "ok" or the error description per message.
    """
    import time

    limiter = RedisTokenBucket.from_url(redis_url, {SENDER: RateLimit(RATE, BURST)}, prefix=prefix)
    config = TwilioConfig(
        account_sid=FAKE_ACCOUNT_SID, auth_token=FAKE_AUTH_TOKEN,
        status_callback_url="https://pulse.example.com/v1/webhooks/twilio/status",
        from_number=SENDER, api_base_url=base_url,
    )  # fmt: skip
    channel = TwilioSmsChannel(config, rate_limiter=limiter)
    start.wait()  # both processes are up: start together
    outcomes: list[str] = []
    deadline = time.monotonic() + DURATION
    while time.monotonic() < deadline:
        message = OutgoingMessage(
            message_id=f"w{worker}-{len(outcomes)}", channel="sms",
            to=f"+1415555{worker:02d}{len(outcomes):02d}", text="How likely are you to recommend us?",
        )  # fmt: skip
        [result] = channel.send([message])
        outcomes.append("ok" if result.ok else result.error.describe())  # type: ignore[union-attr]
    channel.close()
    limiter.close()
    return outcomes


def most_in_any_window_over_bound(times: list[float]) -> float:
    """max over windows [t_i, t_j] of count - (burst + rate * (t_j - t_i + jitter)); <= 0 is within."""
    times = sorted(times)
    worst = float("-inf")
    for i in range(len(times)):
        for j in range(i, len(times)):
            count = j - i + 1
            worst = max(worst, count - (BURST + RATE * (times[j] - times[i] + JITTER)))
    return worst


def test_sms_rate_limit_holds_across_two_worker_processes(redis_url: str) -> None:
    fake = TwilioFake(mps=RATE, burst=BURST, mps_tolerance=JITTER)
    base_url = fake.start()
    prefix = f"pulse:test:sms-rate:{uuid.uuid4().hex}:"
    context = multiprocessing.get_context("spawn")
    try:
        with context.Manager() as manager, ProcessPoolExecutor(2, mp_context=context) as pool:
            start = manager.Barrier(2)
            futures = [
                pool.submit(send_for_a_while, worker, base_url, redis_url, prefix, start)
                for worker in (1, 2)
            ]
            outcomes = [future.result(timeout=120) for future in futures]
    finally:
        fake.stop()

    assert all(outcome == "ok" for per_worker in outcomes for outcome in per_worker), outcomes
    assert fake.violations == []
    assert all(len(per_worker) >= 5 for per_worker in outcomes)  # both really competed
    arrivals = [m.at for m in fake.accepted if m.sender == SENDER]
    assert len(arrivals) == sum(len(per_worker) for per_worker in outcomes)
    assert len(arrivals) >= RATE * DURATION * 0.6  # the limiter throttles, it does not stall
    assert most_in_any_window_over_bound(arrivals) <= 0
