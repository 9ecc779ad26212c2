"""Random interleavings of campaigns, triggers, dismissals, policy edits and clock moves never break a rule.

After every step the independent SQL audit (tests/fatigue/audit.py) checks
each touch of the ledger against the policy version it was recorded under,
and every contact that was refused something carries its reason.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from campaigns.fatigue.policy import KINDS
from campaigns.models import Base
from campaigns.people.fields import FieldError
from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Episode, Message
from campaigns.programs.service import StateConflict
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.lifecycle import cancel_campaign
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.conftest import START
from tests.fatigue.audit import audit
from tests.fatigue.helpers import dismiss, launch, set_policy, transactional

PEOPLE = 6
who = st.lists(st.integers(0, PEOPLE - 1), min_size=1, max_size=PEOPLE, unique=True)
fatigue_rules = st.fixed_dictionaries({
    "kinds": st.one_of(st.just("all"), st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True)),
    "counts": st.sampled_from(["invitations", "messages"]),
    "limit": st.integers(1, 3),
    "window_days": st.integers(1, 40),
    "scope": st.sampled_from(["contact", "contact", "account"]),
})
policies = st.fixed_dictionaries({
    "rules": st.lists(fatigue_rules, min_size=1, max_size=4, unique_by=lambda r: (str(r["kinds"]), r["counts"], r["limit"], r["window_days"], r["scope"])),
    "min_gap_days": st.integers(0, 5),
    "kinds": st.fixed_dictionaries({k: st.fixed_dictionaries({"when_full": st.sampled_from(["defer", "drop"]), "max_defer_days": st.integers(1, 10)}) for k in KINDS}),
})


class FatigueMachine(RuleBasedStateMachine):
    campaigns = Bundle("campaigns")

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        forget_everything(runtime)
        assert isinstance(runtime.clock, DatabaseClock)
        self.clock = runtime.clock
        self.clock.set(START)
        with runtime.sessions() as session:
            shared = factories.account(session)
            people = [
                factories.contact(session, account=shared if n < 3 else None if n == 5 else factories.account(session),
                                  timezone="Asia/Tokyo" if n % 2 else "UTC")
                for n in range(PEOPLE)
            ]
            session.commit()
            self.people = [p.id for p in people]

    @initialize()
    def start(self) -> None:
        tick(self.runtime)

    @rule(target=campaigns, kind=st.sampled_from(["nps", "nps", "ces", "csat"]), chosen=who, lead_hours=st.integers(0, 120))
    def launch_campaign(self, kind: str, chosen: list[int], lead_hours: int) -> int:
        send_at = self.clock.now() + timedelta(hours=lead_hours)
        return launch(self.runtime, [self.people[i] for i in chosen], kind=kind, send_at=send_at, name=f"{kind} campaign")

    @rule(campaign=consumes(campaigns))
    def cancel(self, campaign: int) -> None:
        with self.runtime.sessions() as session:
            try:
                cancel_campaign(self.runtime, session, campaign)
            except StateConflict:  # closed meanwhile
                return
            session.commit()

    @rule(person=st.integers(0, PEOPLE - 1), kind=st.sampled_from(["csat", "csat", "ces", "nps"]), hours=st.booleans())
    def trigger(self, person: int, kind: str, hours: bool) -> None:
        result = transactional(self.runtime, self.people[person], kind, f"{kind}_trigger", hours=hours)
        assert result.status in ("queued", "scheduled", "deferred", "refused"), result
        if result.status in ("deferred", "refused"):
            assert result.rule and result.reason and result.reason.startswith(f"{result.rule}: ")

    @rule(person=st.integers(0, PEOPLE - 1), kind=st.sampled_from(KINDS))
    def dismiss_prompt(self, person: int, kind: str) -> None:
        dismiss(self.runtime, self.people[person], kind)

    @rule(document=policies)
    def edit_policy(self, document: dict[str, Any]) -> None:
        try:
            set_policy(self.runtime, document)
        except FieldError:  # a self-contradicting draw: refused, the old policy stays
            pass

    @rule(hours=st.sampled_from([1, 5, 12, 24, 36, 72, 24 * 7]))
    def advance(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))
        tick(self.runtime)

    @invariant()
    def ledger_keeps_every_rule(self) -> None:
        with self.runtime.sessions() as session:
            assert audit(session) == []

    @invariant()
    def every_refusal_has_its_reason(self) -> None:
        with self.runtime.sessions() as session:
            assert unexplained(session) == []


def forget_everything(runtime: Runtime) -> None:
    """Empty every table before an example; DELETE, because TRUNCATE of every table costs a third of a second."""
    with runtime.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "clock_state":
                connection.execute(delete(table))


def unexplained(session: Session) -> list[Any]:
    episodes = session.scalars(select(Episode.id).where(
        Episode.state == "excluded", or_(Episode.exclusion_rule.is_(None), Episode.exclusion_reason.is_(None)))).all()
    skipped = session.scalars(select(Message.id).where(
        Message.state == "skipped", or_(Message.skip_rule.is_(None), Message.skip_reason.is_(None)))).all()
    return [*episodes, *skipped]


def test_random_interleavings_never_break_a_rule_in_force(runtime: Runtime) -> None:
    run_state_machine_as_test(
        lambda: FatigueMachine(runtime),  # type: ignore[arg-type]  # any factory of machines works; hypothesis's annotation asks for the class
        settings=settings(max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)),
    )
    with runtime.sessions() as session:  # the last example did real work
        assert session.scalar(select(Campaign.id).limit(1)) is not None or session.scalar(select(Contact.id).limit(1)) is not None
