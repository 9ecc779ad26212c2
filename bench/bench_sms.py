"""Issue 5: SMS at a configured 20 messages per second for 60 s, through Celery workers and the
Redis token bucket, against the Twilio fake: achieved ÷ configured.

    .venv/bin/python bench/bench_sms.py [--mps 20] [--seconds 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
from common import fresh_schema
from workers import start_workers, stop_workers, worker_env

from campaigns.people.upsert import upsert_accounts, upsert_contacts
from campaigns.programs import service
from dispatcher.runtime.celery_app import make_celery
from dispatcher.runtime.core import build_runtime
from dispatcher.runtime.settings import Settings
from dispatcher.runtime.work import CeleryQueue
from dispatcher.sending.lifecycle import launch_campaign
from dispatcher.sending.scheduler import tick
from tests.fakes.twilio_fake import FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, TwilioFake

ALWAYS = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
RATE_LIMITS = "redis://127.0.0.1:6379/12"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mps", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    count = int(args.mps * args.seconds * 1.5)  # more than the window can take
    fake = TwilioFake(mps=args.mps, burst=1)
    fake.start()
    redis.Redis.from_url(RATE_LIMITS).flushdb()
    outbox = Path(tempfile.mkdtemp())
    with fresh_schema() as url:
        extra = {"PULSE_SMS_CHANNEL": "twilio", "PULSE_TWILIO_ACCOUNT_SID": FAKE_ACCOUNT_SID, "PULSE_TWILIO_AUTH_TOKEN": FAKE_AUTH_TOKEN,
                 "PULSE_TWILIO_FROM_NUMBER": "+15005550006", "PULSE_TWILIO_BASE_URL": fake.base_url, "PULSE_SMS_MPS": str(args.mps),
                 "PULSE_REDIS_URL": RATE_LIMITS, "PULSE_BATCH_SIZE": "50", "PULSE_CLOCK": "database"}
        env = worker_env(url, outbox, **extra)
        settings = Settings(**{k[6:].lower(): v for k, v in env.items() if k.startswith("PULSE_")})  # type: ignore[arg-type]
        runtime = build_runtime(settings)
        runtime.clock.set(datetime(2026, 3, 2, 10, tzinfo=UTC))  # type: ignore[attr-defined]
        runtime.queue = CeleryQueue(make_celery(settings))
        now = runtime.clock.now()
        with runtime.sessions() as session:
            upsert_accounts(session, [(1, {"external_id": "a", "name": "A", "segment": "smb", "created_on": "2024-01-01"})], now=now)
            upsert_contacts(session, [(i, {"external_id": f"c{i}", "account_external_id": "a", "phone": f"+1415555{i:04d}"}) for i in range(count)], now=now)
            campaign = service.create_campaign(session, spec={
                "name": "Bench SMS", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}, "channels": ["sms"],
                "sending_window": ALWAYS, "plan": [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 14}],
            }, now=now)
            session.commit()
            launch_campaign(runtime, session, campaign.id)
            session.commit()
        worker = start_workers(env, args.workers, outbox / "worker.log")
        try:
            while not fake.accepted:
                tick(runtime)
                time.sleep(0.2)
            first = fake.accepted[0].at
            while time.monotonic() < first + args.seconds:
                tick(runtime)
                time.sleep(0.5)
        finally:
            stop_workers(worker)
        in_window = [m for m in fake.accepted if m.at < first + args.seconds]
        achieved = len(in_window) / args.seconds
        fake.stop()
        print(f"SMS through {args.workers} worker processes sharing a Redis token bucket: {len(in_window)} messages in {args.seconds:g} s "
              f"= {achieved:.2f} MPS against {args.mps:g} configured: achieved/configured = {achieved / args.mps:.3f}; "
              f"over-limit requests seen by the fake: {len(fake.violations)}")
        runtime.close()


if __name__ == "__main__":
    main()
