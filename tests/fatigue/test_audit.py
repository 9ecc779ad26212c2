"""The audit itself: it finds a broken ledger written behind the budget's back, and passes a sound one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from campaigns.fatigue.models import FatigueTouch
from tests import factories
from tests.conftest import START
from tests.fatigue.audit import audit
from tests.fatigue.helpers import set_policy

DAY = timedelta(days=1)


def write(session: Session, contact: Any, *rows: tuple[str, str, datetime], version: int = 0, state: str = "sent") -> None:
    """Ledger rows (kind, step, at) in this order, as if each had been allowed."""
    session.execute(insert(FatigueTouch), [
        {"contact_id": contact.id, "account_id": contact.account_id, "kind": kind, "step": step, "state": state,
         "policy_version": version, "at": at, "created_at": START}
        for kind, step, at in rows
    ])
    session.commit()


def rules_broken(session: Session) -> list[str]:
    return sorted({v.rule for v in audit(session)})


def test_a_sound_ledger_passes_including_touches_exactly_one_window_apart(session: Session) -> None:
    contact = factories.contact(session)
    write(session, contact, ("nps", "invite", START), ("nps", "invite", START + 180 * DAY), ("csat", "invite", START + 183 * DAY),
          ("nps", "reminder", START + 181 * DAY), ("nps", "dismissal", START + 182 * DAY))
    assert audit(session) == []


def test_it_finds_each_default_rule_broken(session: Session) -> None:
    nps, ces, csat, many, chatty, gap = (factories.contact(session) for _ in range(6))
    write(session, nps, ("nps", "invite", START), ("nps", "invite", START + 179 * DAY))
    write(session, ces, ("ces", "invite", START), ("ces", "invite", START + 29 * DAY))
    write(session, csat, ("csat", "invite", START), ("csat", "invite", START + 6 * DAY))
    write(session, many, ("nps", "invite", START), ("ces", "invite", START + 10 * DAY), ("csat", "invite", START + 20 * DAY))
    write(session, chatty, *[("nps", "reminder", START + d * DAY) for d in range(5)])
    write(session, gap, ("ces", "invite", START), ("csat", "invite", START + 2 * DAY))
    assert rules_broken(session) == [
        "ces_once_per_30d", "csat_once_per_7d", "invitations_2_per_30d", "messages_4_per_7d", "min_gap_3d", "nps_once_per_180d",
    ]


def test_a_touch_recorded_before_a_later_reservation_is_judged_against_it(session: Session) -> None:
    contact = factories.contact(session)
    # The future reservation was recorded first; the earlier-dated CSAT second.
    write(session, contact, ("nps", "invite", START + 10 * DAY), ("nps", "invite", START + 8 * DAY))
    assert sorted((v.rule, v.touch_id) for v in audit(session)) == [("min_gap_3d", 2), ("nps_once_per_180d", 2)]


def test_dismissals_count_but_are_never_judged(session: Session) -> None:
    contact = factories.contact(session)
    write(session, contact, *[("csat", "reminder", START + d * DAY) for d in range(4)], ("nps", "dismissal", START + 4 * DAY))
    assert audit(session) == []  # the fifth message was a dismissal: a fact, not a decision
    write(session, contact, ("csat", "thank_you", START + 5 * DAY))
    assert rules_broken(session) == ["messages_4_per_7d"]


def test_released_touches_do_not_count(session: Session) -> None:
    contact = factories.contact(session)
    write(session, contact, ("csat", "invite", START), state="released")
    write(session, contact, ("csat", "invite", START + DAY))
    assert audit(session) == []


def test_each_touch_is_judged_by_the_version_it_was_recorded_under(runtime: Any, session: Session) -> None:
    version = set_policy(runtime, {"rules": [{"kinds": ["csat"], "limit": 2, "window_days": 7, "scope": "account"}], "min_gap_days": 0})
    account = factories.account(session)
    first, second = factories.contact(session, account=account), factories.contact(session, account=account)
    write(session, first, ("csat", "invite", START), ("csat", "invite", START + DAY), version=version)
    assert audit(session) == []  # two CSATs a week per account are allowed by that version
    write(session, second, ("csat", "invite", START + 2 * DAY), version=version)
    assert rules_broken(session) == ["account_csat_2_per_7d"]
