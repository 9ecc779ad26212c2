"""Priority: a higher-priority invitation takes the place of lower-priority reservations nobody has heard of yet."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.conftest import START
from tests.fatigue.audit import audit
from tests.fatigue.helpers import episode, launch, messages, set_policy, touches, transactional

ONE_SURVEY_A_MONTH = {"rules": [{"name": "one_survey_per_30d", "limit": 1, "window_days": 30}], "min_gap_days": 0}


def test_an_nps_takes_the_slot_of_an_unannounced_ces_whose_contact_then_hears_nothing(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    set_policy(runtime, ONE_SURVEY_A_MONTH)
    contact = factories.contact(session)
    session.commit()
    ces = launch(runtime, [contact.id], kind="ces", send_at=START + timedelta(days=10), name="CES")  # pre-notice on day 7

    nps = launch(runtime, [contact.id], kind="nps", name="NPS")  # invite on day 3

    assert episode(session, nps, contact.id).state == "pre_noticed"  # selected, and its pre-notice went out
    released = [t for t in touches(session, contact.id, counting=False) if t.campaign_id == ces]
    assert [(t.state, t.note) for t in released] == [("released", f"gave way to a higher-priority NPS invitation by campaign {nps} on 2026-03-05")]
    for _ in range(12):
        clock.advance(timedelta(days=1))
        tick(runtime)
    [pre_notice] = messages(session, ces, contact.id, "pre_notice")
    assert (pre_notice.state, pre_notice.skip_rule) == ("skipped", "preempted")
    assert pre_notice.skip_reason == f"preempted: the invitation gave way to a higher-priority NPS invitation by campaign {nps} on 2026-03-05"
    [invite] = messages(session, ces, contact.id, "invite")
    assert (invite.state, invite.skip_rule) == ("skipped", "one_survey_per_30d")
    assert [m.state for m in messages(session, nps, contact.id, "invite")] == ["sent"]
    assert audit(session) == []


def test_a_lower_priority_never_takes_a_higher_prioritys_slot(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    set_policy(runtime, ONE_SURVEY_A_MONTH)
    contact = factories.contact(session)
    session.commit()
    launch(runtime, [contact.id], kind="nps", send_at=START + timedelta(days=10), name="NPS")

    ces = launch(runtime, [contact.id], kind="ces", name="CES")

    assert episode(session, ces, contact.id).exclusion_rule == "one_survey_per_30d"
    assert transactional(runtime, contact.id, "csat").status == "refused"


def test_an_announced_reservation_keeps_its_slot(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    set_policy(runtime, ONE_SURVEY_A_MONTH)
    contact = factories.contact(session)
    session.commit()
    ces = launch(runtime, [contact.id], kind="ces", name="CES")  # pre-notice already sent, invite on day 3
    assert [m.state for m in messages(session, ces, contact.id, "pre_notice")] == ["sent"]

    nps = transactional(runtime, contact.id, "nps", "renewal")

    assert (nps.status, nps.rule) == ("refused", "one_survey_per_30d")
    assert nps.reason == f"one_survey_per_30d: invitation reserved for 2026-03-05 by campaign {ces}"
