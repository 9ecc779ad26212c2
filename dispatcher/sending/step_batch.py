"""Running one batch of a contact step: plan a message per episode, commit, then hand off.

Per episode: still eligible for this step, a channel it can be reached on, the
fatigue budget's message rules, the window in the contact's own timezone, the
rendered content — all persisted as one message row (per-recipient values are
derived when it is sent: ``contents.values_for``) with a unique key per
(episode, step), written by one ``INSERT … SELECT`` per batch (``step_rows``)
and committed before anything is handed to a channel. Running the same batch
twice plans nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, wait
from contextvars import copy_context
from datetime import datetime
from typing import Any

from sqlalchemy import Row, exists, func, select, update
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Episode, Message, MessageContent, PlanStep, Response
from campaigns.programs.reach import Reach
from campaigns.programs.window import SendingWindow
from dispatcher.routing import Candidate, route
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.sending.budget import ContactRef, Touch
from dispatcher.sending.contents import ContentCache
from dispatcher.sending.handoff import send_messages, take_step_messages
from dispatcher.sending.step_rows import PlannedRows, estimates_json, insert_planned
from templates import thank_you_step

AFTER_CLOSE = ("thank_you", "summary", "you_said_we_did")


def step_is_live(campaign: Campaign, step: PlanStep) -> bool:
    """Whether a step may still send: active campaigns, and the at-close steps of closed ones."""
    if step.status == "cancelled":
        return False
    if campaign.status == "active":
        return True
    return campaign.status == "closed" and step.step in AFTER_CLOSE


def message_key(episode_id: int, step_id: int) -> str:
    return f"episode:{episode_id}:step:{step_id}"


def ineligible(step: PlanStep, episode: Episode | Row[Any]) -> tuple[str, str] | None:
    """Why this episode gets nothing at this step, if it gets nothing."""
    if episode.state == "cancelled":
        return "campaign_cancelled", "the campaign was cancelled"
    if step.step in ("pre_notice", "invite"):
        if episode.answered_at is not None:
            return "answered", "already answered"
        if step.step == "pre_notice" and episode.invited_at is not None:
            return "already_invited", "the invite went out first"
        return None
    if episode.invited_at is None:
        return "not_invited", "was never invited"
    if step.step == "reminder" and episode.answered_at is not None:
        return "answered", f"answered on {episode.answered_at.date().isoformat()}"
    if step.step == "thank_you" and episode.thanked_at is not None:
        return "already_thanked", "already thanked"
    return None


def _template_step(step: PlanStep, episode: Any, categories: dict[int, str]) -> str:
    if step.step == "thank_you":
        category = categories.get(episode.episode_id)
        return thank_you_step(category) if category else "thank_you_unanswered"
    return step.step


def _targets(session: Session, step: PlanStep, first_episode_id: int, last_episode_id: int) -> list[Row[Any]]:
    """The range's selected episodes without a message for the step, with what planning reads of their contact.

    Plain rows read on the session's connection (Core, not the ORM's result machinery):
    nothing is tracked per episode in the session.
    """
    connection = session.connection()
    # Every message of the range's episodes, filtered here: a condition on step_id would let the
    # planner intersect with that index, which holds every message of the step (a million).
    have = {episode_id for episode_id, step_id in connection.execute(select(Message.episode_id, Message.step_id).where(
        Message.episode_id.between(first_episode_id, last_episode_id))).all() if step_id == step.id}
    rows: list[Row[*tuple[Any, ...]]] = list(connection.execute(  # fifteen columns
        select(Episode.id.label("episode_id"), Episode.state, Episode.answered_at, Episode.invited_at, Episode.thanked_at, Episode.channel,
               Contact.id.label("contact_id"), Contact.account_id, Contact.email, Contact.phone, Contact.external_id, Contact.last_seen_at,
               Contact.role, Contact.locale, Contact.timezone)
        .join(Contact, Contact.id == Episode.contact_id).where(
            Episode.campaign_id == step.campaign_id, Episode.wave == step.wave,
            Episode.id.between(first_episode_id, last_episode_id), Episode.state != "excluded",
        ).order_by(Episode.id)
    ).all())
    return [target for target in rows if target.episode_id not in have]


def plan_batch(runtime: Runtime, session: Session, step: PlanStep, targets: Sequence[Row[Any]], now: datetime, *, cache: ContentCache | None = None) -> PlannedRows:
    """The message rows for ``targets`` at ``step`` (see ``_targets``), not yet written; counts them in the budget.

    Per episode only what needs Python: eligibility, reachability, the channel
    chooser (one call for the batch) and the number of its decision. What a
    decision holds — the content id, the window's opening, the estimates as
    JSON — is worked out once per distinct decision, not per message. An invite
    that takes over its campaign's reservation is counted set-based after the
    rows are written (``link_invitations``, from ``rows.held``); every other
    touch goes through ``record_touches``.
    """
    campaign = step.campaign
    window = SendingWindow.parse(campaign.sending_window)
    reach = Reach.load(session, targets, allowed=campaign.channels, available=runtime.available_media, now=now)
    cache = cache or step_contents(runtime, session, step.id)
    categories: dict[int, str] = {}
    if step.step == "thank_you":
        ids = [t.episode_id for t in targets if t.answered_at is not None]
        categories = dict(session.execute(select(Response.episode_id, Response.category).where(Response.episode_id.in_(ids), Response.current.is_(True))).all()) if ids else {}
    rows = PlannedRows()
    routed: list[Row[Any]] = []
    candidates: list[Candidate] = []
    reminder = step.step == "reminder"
    for target in targets:
        reason = ineligible(step, target)
        media = reach.media(target) if reason is None else []
        if reason is None and not media:
            reason = ("unreachable", f"unreachable: {reach.why_not(target)}")
        if reason is not None:
            rows.add(target.episode_id, rows.decision(state="skipped", skip_rule=reason[0], skip_reason=reason[1]))
            continue
        routed.append(target)
        unanswered = target.channel if reminder else None  # the last ask's medium (answered ones are ineligible)
        candidates.append(Candidate(target.contact_id, tuple(media), target.role, target.last_seen_at, unanswered, target.phone is not None))
    choices = route(
        runtime, session, candidates, order=campaign.channels, mode=campaign.channel_choice,  # type: ignore[arg-type]
        campaign_id=campaign.id, step_id=step.id, batch_key=targets[0].episode_id if targets else 0, now=now,
    )
    takes_over = step.step == "invite"
    held = runtime.budget.held_invitations(session, campaign_id=campaign.id, contacts=[ContactRef(t.contact_id, t.account_id) for t in routed]) if takes_over else {}
    opens: dict[str, datetime] = {}
    estimates: dict[tuple[Any, ...], str | None] = {}  # each distinct choice's estimates as JSON, once
    numbers: dict[tuple[Any, ...], int] = {}
    touches: list[tuple[int, Touch]] = []
    for target, choice in zip(routed, choices, strict=True):
        medium = choice.medium
        assert medium is not None  # every candidate has a medium it can be reached on
        zone = target.timezone
        template = _template_step(step, target, categories)
        shown = tuple(choice.estimates.items())
        key = (medium, choice.reason, shown, zone, target.locale, template)
        number = numbers.get(key)
        if number is None:
            if zone not in opens:
                opens[zone] = window.next_open(now, zone)
            if shown not in estimates:
                estimates[shown] = estimates_json(choice.estimates)
            number = numbers[key] = rows.decision(
                state="queued", medium=medium, channel=runtime.channels.names[medium], channel_reason=choice.reason,
                channel_estimates=estimates[shown], not_before=opens[zone],
                content_id=cache.survey_content(session, campaign, medium=medium, template_step=template,
                                                locale=target.locale, number=step.number, final=step.final),
            )
        position = rows.add(target.episode_id, number)
        entry = held.get(target.contact_id)
        if entry is not None:
            rows.held["entry_id"].append(entry)
            rows.held["message_key"].append(message_key(target.episode_id, step.id))
        else:
            touches.append((position, Touch(contact=ContactRef(target.contact_id, target.account_id), kind=campaign.kind, step=step.step, medium=medium,
                                            at=opens[zone], campaign_id=campaign.id, message_key=message_key(target.episode_id, step.id))))
    refusals = runtime.budget.record_touches(session, [t for _, t in touches], now=now)
    for index, refusal in refusals.items():
        rows.skip(touches[index][0], rule=refusal.rule, reason=refusal.reason)
    return rows


STEP_CONTENTS = "step_contents"  # runtime.extras: (step id, edits snapshot, content ids) of the last batch committed


def step_contents(runtime: Runtime, session: Session, step_id: int) -> ContentCache:
    """The content cache for a batch of ``step_id``: starts with the ids the process's last committed
    batch of the same step rendered, while the published edits are the same snapshot, so a step
    renders each content once per process rather than once per batch (a change of the studio's
    locale settings in the middle of a step reaches the process's next step, as an edit in the
    middle of a batch always reached the next batch)."""
    snapshot = runtime.published_templates.snapshot(session)
    kept = runtime.extras.get(STEP_CONTENTS)
    ids: dict[tuple[Any, ...], int] = dict(kept[2]) if isinstance(kept, tuple) and kept[0] == step_id and kept[1] is snapshot else {}
    if ids:
        # Still stored (one probe of a few ids): a step id can come back after the rows were
        # deleted (SQLite reuses the largest ids), and content ids must never dangle.
        stored = set(session.scalars(select(MessageContent.id).where(MessageContent.id.in_(set(ids.values())))))
        if not stored.issuperset(ids.values()):
            ids = {}
    return ContentCache(runtime, ids=ids, snapshot=snapshot)


def keep_contents(runtime: Runtime, step_id: int, cache: ContentCache) -> None:
    """After the batch committed: its content ids (now stored for good) serve the step's next batches."""
    runtime.extras[STEP_CONTENTS] = (step_id, cache.snapshot, dict(cache.ids))


def run_step_batch(runtime: Runtime, step_id: int, first_episode_id: int, last_episode_id: int) -> None:
    """Task: plan one batch of a contact step, and send the step's messages that are due. Idempotent.

    Whole requests planned by the step's earlier batches are taken first and posted from a
    second thread while this batch plans and writes its own rows, so the provider's latency
    and the recording of its answers overlap planning instead of following it (PostgreSQL;
    on SQLite, one writer at a time, they are sent before planning). If that send is still
    out when the batch's rows are committed, the whole requests they completed go from this
    thread meanwhile; the batch that finds the step fully planned (``batches_left`` down to 0)
    sends whatever is left. A second run of the batch plans nothing twice and claims no
    message twice (see ``handoff``).
    """
    with runtime.sessions() as session:
        step = session.get(PlanStep, step_id)
        if step is None or not step_is_live(step.campaign, step):
            return
        now = runtime.clock.now()
        earlier = take_step_messages(runtime, session, step.id, now, whole_requests_only=True)
        sending: Future[None] | None = None
        try:
            if earlier and session.get_bind().dialect.name == "postgresql":
                # The runtime's sender threads live as long as the process: each thread builds its
                # own channel adapters (and their connections), so a thread per batch would pile them up.
                sending = runtime.step_senders.submit(copy_context().run, send_messages, runtime, earlier)
            elif earlier:
                send_messages(runtime, earlier)
            _plan_and_write(runtime, session, step, first_episode_id, last_episode_id, now)
            due = _count_batch_done(runtime, session, step, now)
            if not due and sending is not None and not sending.done():
                # The sender is still out with the earlier requests: rather than wait for it,
                # this thread posts the whole requests that this batch's rows completed.
                due = take_step_messages(runtime, session, step.id, now, whole_requests_only=True, held=set(earlier))
            if due:
                send_messages(runtime, due)
        finally:
            if sending is not None:
                wait([sending])  # the task ends when its sends have: never a send left behind it
        if sending is not None:
            sending.result()  # re-raise what the send raised


def _plan_and_write(runtime: Runtime, session: Session, step: PlanStep, first_episode_id: int, last_episode_id: int, now: datetime) -> None:
    """Plan the range's messages and commit them (nothing if they are written already)."""
    targets = _targets(session, step, first_episode_id, last_episode_id)
    if targets:
        contents = step_contents(runtime, session, step.id)
        rows = plan_batch(runtime, session, step, targets, now, cache=contents)
        insert_planned(session, rows, campaign_id=step.campaign_id, step_id=step.id, step=step.step, now=now)
        runtime.budget.link_invitations(session, links=rows.held)
        session.commit()
        keep_contents(runtime, step.id, contents)


def _count_batch_done(runtime: Runtime, session: Session, step: PlanStep, now: datetime) -> list[int]:
    """Count the batch done. Commits. The batch that leaves none (or cannot tell) takes every due
    message of the step, in the same transaction: the tick hands out a step's messages once no batch
    is left, and would otherwise split the last requests with it. It also marks the step done if
    every selected episode has its message (a batch delivered twice may have counted for one that
    has not run yet: then the step stays dispatched, and the scheduler's sweep decides later)."""
    left = session.scalar(update(PlanStep).where(PlanStep.id == step.id, PlanStep.batches_left > 0)
                          .values(batches_left=PlanStep.batches_left - 1).returning(PlanStep.batches_left))
    due = []
    if not left:
        due = take_step_messages(runtime, session, step.id, now, whole_requests_only=False)
        if step_complete(session, step.id, step.campaign_id, step.wave):
            session.execute(update(PlanStep).where(PlanStep.id == step.id, PlanStep.status.in_(("running", "dispatched")))
                            .values(status="done", dispatched_at=func.coalesce(PlanStep.dispatched_at, utcnow())))
    session.commit()
    return due


def step_complete(session: Any, step_id: int, campaign_id: int, wave: int) -> bool:
    """Whether every selected episode of the step's wave has its message for the step."""
    unplanned = select(Episode.id).where(
        Episode.campaign_id == campaign_id, Episode.wave == wave, Episode.state != "excluded",
        ~exists(select(Message.id).where(Message.step_id == step_id, Message.episode_id == Episode.id)),
    ).limit(1)
    return session.scalar(unplanned) is None
