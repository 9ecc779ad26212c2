"""Selection and the invite step set-based: the quiet majority in a few statements, the rest judged with reasons."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.people.models import Account, Contact
from campaigns.programs import service
from campaigns.programs.exclusions import included_condition, program_exclusions
from campaigns.programs.models import Episode, Message, Suppression
from campaigns.programs.reach import Reach
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.budget import ContactRef, Touch
from dispatcher.sending.scheduler import tick
from dispatcher.sending.step_batch import run_step_batch
from tests import factories
from tests.conftest import START
from tests.fatigue.audit import audit
from tests.fatigue.helpers import launch, messages, set_policy, touches

INVITE_NOW = [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 14}]


def test_the_sql_criteria_admit_exactly_the_contacts_the_program_exclusions_leave_in(runtime: Runtime, session: Session) -> None:
    new = factories.account(session, created_on=START.date() - timedelta(days=3))
    churned = factories.account(session, lifecycle_stage="churned")
    contacts = [
        factories.contact(session),  # in
        factories.contact(session, account_id=None, account=None),  # in: no account
        factories.contact(session, email=None),  # unreachable
        factories.contact(session, email="gone@example.com"),  # suppressed
        factories.contact(session, email=None, external_id="app-1", last_seen_at=START - timedelta(days=2)),  # in-app only, seen lately: in
        factories.contact(session, email=None, external_id="app-2", last_seen_at=START - timedelta(days=40)),  # in-app only, not lately
        factories.contact(session, account=new),  # account too new
        factories.contact(session, account=churned),  # churned
        factories.contact(session, role="vip"),  # custom exclusion
    ]
    session.add(Suppression(medium="email", address="gone@example.com", reason="unsubscribed", created_at=START))
    campaign = service.create_campaign(session, spec={
        "name": "Criteria", "survey": {"kind": "nps"}, "audience": {"contact_ids": [c.id for c in contacts]}, "channels": ["email", "in_app"],
        "exclusions": {"min_account_age_days": 30, "custom": [{"name": "vips", "filter": {"role": ["vip"]}}]},
    }, now=START)
    session.commit()
    ids = [c.id for c in contacts]

    admitted = set(session.scalars(select(Contact.id).outerjoin(Account, Account.id == Contact.account_id).where(
        Contact.id.in_(ids), included_condition(campaign.exclusions, allowed=campaign.channels, available=runtime.available_media, now=START))))
    reach = Reach.load(session, contacts, allowed=campaign.channels, available=runtime.available_media, now=START)
    excluded = program_exclusions(session, contacts=contacts, exclusions=campaign.exclusions, reach=reach, now=START)

    assert admitted == set(ids) - set(excluded)
    assert admitted == {contacts[0].id, contacts[1].id, contacts[4].id}


def test_a_selection_reserves_the_quiet_and_gives_everyone_else_their_reason(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    quiet, asked, churned = factories.contact(session), factories.contact(session), factories.contact(session, account=factories.account(session, lifecycle_stage="churned"))
    session.commit()
    earlier = launch(runtime, [asked.id], plan=INVITE_NOW, name="Earlier")
    clock.advance(timedelta(days=1))

    campaign = launch(runtime, [quiet.id, asked.id, churned.id], plan=INVITE_NOW, send_at=START + timedelta(days=10))

    session.rollback()
    states = {e.contact_id: (e.state, e.exclusion_rule, e.exclusion_reason) for e in session.scalars(select(Episode).where(Episode.campaign_id == campaign))}
    assert states[quiet.id] == ("selected", None, None)
    assert states[asked.id][:2] == ("excluded", "nps_once_per_180d")
    assert str(states[asked.id][2]).startswith(f"nps_once_per_180d: invited 2026-03-02 by campaign {earlier}")
    assert states[churned.id] == ("excluded", "churned", "the account has churned")
    assert [(t.campaign_id, t.state) for t in touches(session, quiet.id)] == [(campaign, "reserved")]
    assert [t.campaign_id for t in touches(session, churned.id)] == []
    assert audit(session) == []


def test_an_invite_takes_over_its_reservation_once_even_when_its_batch_runs_twice(runtime: Runtime, session: Session) -> None:
    contacts = [factories.contact(session) for _ in range(3)]
    session.commit()
    campaign = launch(runtime, [c.id for c in contacts], plan=INVITE_NOW)
    tick(runtime)  # the invite step, due at once
    session.rollback()
    step_id = session.scalar(select(Message.step_id).where(Message.campaign_id == campaign, Message.step == "invite").limit(1))
    assert step_id is not None
    first, last = min(e.id for e in session.scalars(select(Episode))), max(e.id for e in session.scalars(select(Episode)))

    run_step_batch(runtime, step_id, first, last)

    for contact in contacts:
        [invite] = messages(session, campaign, contact.id, "invite")
        [touch] = touches(session, contact.id)
        assert (invite.state, touch.step, touch.state, touch.message_key, touch.medium) == ("sent", "invite", "sent", invite.idempotency_key, "email")
    assert audit(session) == []


def test_two_contacts_of_one_account_in_one_chunk_share_its_account_rule(runtime: Runtime, session: Session) -> None:
    set_policy(runtime, {"rules": [{"name": "account_once_per_1d", "kinds": "all", "counts": "invitations", "limit": 1, "window_days": 1, "scope": "account"}],
                         "min_gap_days": 0})
    account = factories.account(session)
    first, second = factories.contact(session, account=account), factories.contact(session, account=account)
    session.commit()

    campaign = launch(runtime, [first.id, second.id], plan=INVITE_NOW, send_at=START + timedelta(days=10))

    session.rollback()
    states = sorted((e.contact_id, e.state, e.exclusion_rule) for e in session.scalars(select(Episode).where(Episode.campaign_id == campaign)))
    assert states == [(first.id, "selected", None), (second.id, "excluded", "account_once_per_1d")]
    assert audit(session) == []


def _reminder(contact: Contact, n: int, at: datetime, *, campaign_id: int | None = None) -> Touch:
    return Touch(contact=ContactRef(contact.id, contact.account_id), kind="nps", step="reminder", medium="email", at=at,
                 campaign_id=campaign_id, message_key=f"test:{contact.id}:{n}")


def test_planned_messages_with_room_are_recorded_set_based_and_the_full_ones_refused_with_their_reason(runtime: Runtime, session: Session) -> None:
    quiet, busy, edge = factories.contact(session), factories.contact(session), factories.contact(session)
    session.commit()
    budget = runtime.budget
    # Four messages for ``busy`` within a week of START, three for ``edge`` (room for one more).
    assert budget.record_touches(session, [_reminder(busy, n, START - timedelta(days=n)) for n in range(4)], now=START) == {}
    assert budget.record_touches(session, [_reminder(edge, n, START - timedelta(days=n)) for n in range(3)], now=START) == {}
    session.commit()

    planned = [_reminder(quiet, 9, START), _reminder(busy, 9, START), _reminder(edge, 9, START)]
    refusals = budget.record_touches(session, planned, now=START)
    again = budget.record_touches(session, planned, now=START)  # the batch run twice: nothing recorded twice
    session.commit()

    assert list(refusals) == [1]
    assert refusals[1].rule == "messages_4_per_7d"
    assert refusals[1].reason == "messages_4_per_7d: reminder 2026-02-27; reminder 2026-02-28; reminder 2026-03-01; reminder 2026-03-02"
    assert list(again) == [1]
    assert [t.message_key for t in touches(session, quiet.id)] == [f"test:{quiet.id}:9"]
    assert f"test:{busy.id}:9" not in {t.message_key for t in touches(session, busy.id)}
    assert len(touches(session, edge.id)) == 4
    assert audit(session) == []


def test_two_planned_messages_of_one_account_under_an_account_rule_are_judged_one_by_one(runtime: Runtime, session: Session) -> None:
    set_policy(runtime, {"rules": [{"name": "account_msgs_1_per_7d", "kinds": "all", "counts": "messages", "limit": 1, "window_days": 7, "scope": "account"}],
                         "min_gap_days": 0})
    account = factories.account(session)
    first, second, alone = factories.contact(session, account=account), factories.contact(session, account=account), factories.contact(session)
    session.commit()

    refusals = runtime.budget.record_touches(session, [_reminder(first, 1, START), _reminder(second, 1, START), _reminder(alone, 1, START)], now=START)
    session.commit()

    assert list(refusals) == [1]
    assert refusals[1].rule == "account_msgs_1_per_7d"
    assert [len(touches(session, c.id)) for c in (first, second, alone)] == [1, 0, 1]
    assert audit(session) == []
