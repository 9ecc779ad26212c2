"""`pulse run --demo`: a demo base and a campaign on an accelerated clock.

One plan day passes every few seconds, so a new user watches every step of
the NPS plan arrive in the outbox: kickoff, pre-notice, invite, reminders,
thank-yous, the summary.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from rich.console import Console
from sqlalchemy import select

from campaigns.people.service import upsert_team_member
from campaigns.people.upsert import upsert_accounts, upsert_contacts
from campaigns.programs import service
from campaigns.programs.models import Campaign
from dispatcher.runtime.clock import DatabaseClock, utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.sending.lifecycle import launch_campaign

DEMO_NAME = "Demo: quarterly NPS"
SECONDS_PER_DAY = 4.0
PEOPLE = [
    # (name, timezone, locale, phone, reached by): some only by SMS, one only in the product
    ("Ana Lima", "America/Los_Angeles", "en", "+14155550101", "email"),
    ("Ben Okafor", "Europe/London", "en-GB", None, "email"),
    ("Clara Weiss", "Europe/Berlin", "de", "+4915112345678", "sms"),
    ("Dev Patel", "Asia/Kolkata", "en", None, "email"),
    ("Emi Sato", "Asia/Tokyo", "en", None, "email"),
    ("Felix Braun", "Europe/Vienna", "de-AT", None, "email"),
    ("Grace Kim", "America/New_York", "en", "+12125550142", "email"),
    ("Hugo Martin", "Australia/Sydney", "en", "+61412345678", "sms"),
    ("Ivy Novak", "Europe/Prague", "en", None, "in_app"),
]
TEAM = [("Sam Rivera", "sam@example.com"), ("Lee Chen", "lee@example.com")]


def _base(now_date: date, seen_at: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    accounts = [
        {"external_id": f"demo-acc-{i}", "name": name, "segment": segment, "tier": tier, "plan": "pro",
         "lifecycle_stage": "active", "created_on": now_date - timedelta(days=400 + 30 * i),
         "renewal_on": now_date + timedelta(days=60 + 45 * i), "owner_email": TEAM[i % 2][1]}
        for i, (name, segment, tier) in enumerate([("Acme Corp", "enterprise", "platinum"), ("Globex", "mid-market", "gold"), ("Initech", "smb", "silver"), ("Umbrella", "enterprise", "gold")])
    ]
    contacts = [
        {"external_id": f"demo-{i}", "account_external_id": f"demo-acc-{i % 4}", "name": name,
         "email": f"{name.split()[0].lower()}@example.com" if reached == "email" else None,
         "phone": phone if reached != "in_app" else None, "role": "admin" if i % 3 == 0 else "user",
         "locale": locale, "timezone": zone, "last_seen_at": seen_at if reached == "in_app" else None}
        for i, (name, zone, locale, phone, reached) in enumerate(PEOPLE)
    ]
    return accounts, contacts


def seed_demo(runtime: Runtime, *, console: Console, day_seconds: float = SECONDS_PER_DAY) -> int:
    """Seed once (idempotent), start the fast clock, launch the demo campaign; its id."""
    clock = runtime.clock
    assert isinstance(clock, DatabaseClock), "the demo needs the database clock (pulse run --demo sets it)"
    clock.set(utcnow(), speed=86_400 / day_seconds)
    now = clock.now()
    with runtime.sessions() as session:
        existing = session.scalar(select(Campaign).where(Campaign.name == DEMO_NAME, Campaign.status.in_(("draft", "active", "paused"))))
        if existing is not None:
            console.print(f"demo campaign {existing.id} is already running")
            return existing.id
        for name, email in TEAM:
            upsert_team_member(session, name=name, email=email, slack_handle=None, now=now)
        accounts, contacts = _base(now.date(), now)
        upsert_accounts(session, list(enumerate(accounts, 1)), now=now)
        upsert_contacts(session, list(enumerate(contacts, 1)), now=now)
        campaign = service.create_campaign(session, spec={
            "name": DEMO_NAME, "survey": {"kind": "nps"},
            "audience": {"filter": {"account_external_ids": [a["external_id"] for a in accounts]}},
            "channels": ["email", "sms", "in_app"], "internal_recipients": {"emails": ["cs-team@example.com"]},
            "review_link": "https://www.g2.com/products/acme/reviews",
        }, now=now)
        session.commit()
        launch_campaign(runtime, session, campaign.id)
        session.commit()
        console.print(f"[bold]Demo:[/] {len(contacts)} contacts in {len(accounts)} accounts across {len({p[1] for p in PEOPLE})} timezones; "
                      f"campaign {campaign.id} launched on a clock where one day passes every {day_seconds:g} s.")
        console.print(f"Watch the plan arrive in the outbox: kickoff now, the invite in ~{5 * day_seconds:.0f} s, "
                      f"the summary within ~{25 * day_seconds:.0f} s (sending hours and weekends included).")
        return campaign.id
