"""A 200-contact campaign through the whole default plan, on the in-process worker."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from channels.outbox import expand_outbox
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests.dispatcher.scenario import check_plan_outcome, create_and_launch, run_plan


def test_every_step_reaches_the_right_contacts_once_inside_their_hours(runtime: Runtime, session: Session) -> None:
    campaign_id = create_and_launch(runtime)

    answered = run_plan(runtime, campaign_id, advance=lambda: tick(runtime))

    per_step = check_plan_outcome(session, campaign_id, answered)
    assert per_step["invite"] == 200
    expand_outbox(runtime.settings.outbox_dir)
    outbox = list(Path(runtime.settings.outbox_dir).iterdir())
    assert len(outbox) == sum(per_step.values()) + 2 + 3  # + kickoff and summary to the list, kickoff to 3 owners
