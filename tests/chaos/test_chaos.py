"""Things die mid-campaign; afterwards nothing is lost, doubled or over-budget.

Each scenario runs a real campaign through Celery workers on PostgreSQL and a
Redis of its own, hurts it, lets it recover, and checks the invariants of
``tests/chaos/invariants.py``, printing the figures. ``--rounds N`` sets how
many SIGKILL rounds run (3 by default; ``--rounds 10`` by hand).
"""

from __future__ import annotations

import time
import warnings
from functools import partial

import pytest
from sqlalchemy.orm import Session

from tests.chaos.harness import BATCH, VISIBILITY_SECONDS, Chaos
from tests.chaos.invariants import Figures, check_campaign
from tests.chaos.servers import OwnRedis

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]

CONTACTS = 150

# ``unknown`` means "a request carrying it had started, or was about to": a sender claims a chunk
# (``sending``, committed) only when it can start the chunk's request at once, then builds it and sends.
# A process killed in that short window leaves one chunk ``unknown`` that never reached the provider, so
# a kill may leave at most one chunk per worker process so (``about_to_send``); before issue 12 a whole
# batch was claimed before its requests went out, and most ``unknown`` messages had never been sent.
UNKNOWN_ONLY_IN_FLIGHT_ENFORCED = True


def _judge(scenario: str, totals: Figures, about_to_send: int = 0, **counts: int) -> None:
    """``about_to_send``: how many messages may be claimed with their request not yet out when processes die."""
    figures = " ".join(f"{name}={value}" for name, value in counts.items())
    print(f"\nchaos[{scenario}] {figures} | {totals.line()}")
    assert totals.duplicate_deliveries == 0, totals.line()
    assert totals.duplicate_rows == 0, totals.line()
    assert totals.unplanned_pairs == 0, totals.line()
    assert totals.fatigue_violations == 0, totals.line()
    assert totals.missing_or_unfinished == 0, totals.line()
    assert totals.sent_never_accepted == 0, totals.line()
    assert totals.skipped_without_reason == 0, totals.line()
    if totals.unknown_never_requested > about_to_send:
        message = (f"chaos[{scenario}]: {totals.unknown_never_requested} messages are 'unknown' although no request "
                   f"carrying them reached the provider (at most {about_to_send} may be: one chunk per killed process)")
        if UNKNOWN_ONLY_IN_FLIGHT_ENFORCED:
            pytest.fail(message)
        warnings.warn(message, stacklevel=1)


def _received_at_least(chaos: Chaos, count: int) -> bool:
    return chaos.fake.received >= count


def test_workers_killed_mid_batch(chaos: Chaos, session: Session, rounds: int) -> None:
    totals = Figures()
    for _ in range(rounds):
        campaign_id = chaos.launch(CONTACTS)
        before = chaos.fake.received
        chaos.drive_until(partial(_received_at_least, chaos, before + 2))
        chaos.kill_workers()  # SIGKILL: requests in flight, results unrecorded, tasks unacknowledged
        time.sleep(VISIBILITY_SECONDS + 1)  # past the visibility timeout: Redis gives the dead worker's tasks out again
        chaos.workers.start()
        chaos.recover(campaign_id)
        totals.add(check_campaign(session, campaign_id, chaos.fake.requests))
    # Each kill: at most one chunk per worker process between its claim and its request leaving.
    _judge("sigkill", totals, about_to_send=chaos.kills * chaos.workers.concurrency * BATCH, rounds=rounds, kills=chaos.kills)


def test_redis_restarted_mid_campaign(chaos: Chaos, own_redis: OwnRedis, session: Session) -> None:
    campaign_id = chaos.launch(CONTACTS)
    chaos.drive_until(lambda: chaos.fake.received >= 2)
    own_redis.restart()  # no persistence: every queued and unacknowledged task is gone
    chaos.recover(campaign_id)
    _judge("redis-restart", check_campaign(session, campaign_id, chaos.fake.requests), restarts=own_redis.restarts)


def test_database_connections_dropped_mid_batch(chaos: Chaos, session: Session) -> None:
    campaign_id = chaos.launch(CONTACTS)
    drops = 0
    chaos.drive_until(lambda: chaos.fake.received >= 2)
    for _ in range(3):
        drops += 1 if chaos.drop_connections() else 0
        chaos.drive_for(0.7)
    chaos.recover(campaign_id)
    _judge("pg-terminate", check_campaign(session, campaign_id, chaos.fake.requests), drops=drops, terminated=chaos.terminated)
