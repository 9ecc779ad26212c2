"""Accepting an answer from any channel (email link, SMS reply, in-app): the one entry point.

An answer request does the least that makes the answer durable: it stores the
answer and one ``answer_outbox`` row (what the answer still has to set off) in
its own transaction — at most five statements and one commit for a link
answer — and acknowledges after the commit. Everything that follows is done by
workers, in batches, within seconds (``dispatcher.answers.follow_through``):
``kick`` hands them the work after the commit, and the scheduler tick picks up
whatever a lost kick or a dead worker left (each row is done once, in the
transaction that marks it done; a row a dead worker claimed is claimed again).

What follows an answer, and the rules when an episode is answered again
(``record_answer`` keeps the earlier answer, no longer current; the worker
takes an episode's rows in the order the answers came, under the episode's row
lock, so a later answer replaces the earlier one exactly as if both had been
followed through at once; 1,000 concurrent answers to one episode are stored
exactly once each, one after the other):

- **Follow-up task**: one per episode, opened by the first answer and assigned
  to the account's owner (round robin over the active team when there is none).
  A later answer moves the task to the current answer and category, notes the
  change, and reopens a resolved task when the answer turns into the alerting
  category. It is never reassigned by an answer.
- **Thank-you**: once per episode, for the category of the answer at the time.
  Email answers get ``thank_you_<category>`` by email (inside the contact's
  sending hours, counted by the fatigue budget; if the category changes while
  it is still queued, it is re-rendered for the new one) and the episode is
  marked thanked (``thanked_at``) when it is queued, so the plan's ``thank_you``
  step at close skips it even if it runs before this one leaves (and an episode
  the close step thanked first gets no second thank-you). In-app answers are
  thanked by the widget: marked thanked in the answer's own write, nothing
  queued. SMS answers queue nothing: the conversation thanks in its thread
  after the comment and marks the episode itself; a contact who never sends one
  is thanked at close. A campaign whose plan has no ``thank_you`` step thanks
  nobody by email, and an answer on any other medium is left for the close step.
- **Detractor alert** (NPS detractor, CSAT unsatisfied, CES hard): when the
  episode's answer becomes alerting (the first answer, or a change from a
  non-alerting one), email the task's owner and post to the campaign's Slack
  webhook, at most once per episode each, outside sending hours; a later
  change back and forth alerts no one again (the task shows it). It leaves
  within a minute even if the kick is lost or the worker dies.
- **Outgoing webhooks**: ``response.created`` for the episode's first answer,
  ``response.updated`` (with ``previous``) for every later one, and for a
  comment that follows the score in its own SMS.
- **Channel choice** learns from answers per medium: the answered message moves
  to ``answered`` and the contact's ``answered`` counter grows once
  (``dispatcher.answers.provider_events.mark_answered_many``, once per batch by the worker).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any, cast

import anyio.to_thread
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from campaigns.events.service import lock_episode
from campaigns.programs.answers import record_answer
from campaigns.programs.models import AnswerOutbox, Episode, Response
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.work import InlineQueue

log = logging.getLogger(__name__)

THANKED_BY_WIDGET = "in_app"  # the widget shows the category's thank-you as soon as the answer is kept
FOLLOW_THROUGH = "follow_through_answers"  # the task (dispatcher.runtime.tasks)
# On the table, built once: an ORM insert built per answer cost more CPU than writing the row.
_OUTBOX_INSERT = insert(cast(Table, AnswerOutbox.__table__))


def accept_answer(
    runtime: Runtime, session: Session, *, episode: Episode, score: int, comment: str | None, medium: str, now: datetime,
    credit: bool = False, message_id: int | None = None, locked: bool = False, outbox: list[dict[str, Any]] | None = None,
) -> Response:
    """Record the answer and its outbox row (see the module). Flushes, never commits;
    call ``kick`` after the commit.

    Locks the episode row (PostgreSQL) so two answers to one episode are taken one
    after the other, unless the caller already holds it (``locked``). ``credit``:
    the answer is credited to ``message_id`` (None: the episode's latest message
    reached on ``medium``) for channel choice. ``outbox``: the outbox row is appended
    there instead of inserted, for a caller that writes it with its own rows in one
    statement (the SMS reply, ``note_reply``). Raises ``FieldError`` (score, episode)
    like ``record_answer``.
    """
    if not locked:
        session.flush()
        lock_episode(session, episode)
    response, previous_id = record_answer(
        session, episode=episode, score=score, comment=comment, medium=medium, now=now, thanked=medium == THANKED_BY_WIDGET,
    )
    _outbox_row(session, outbox, {
        "kind": "answer", "episode_id": episode.id, "response_id": response.id, "previous_id": previous_id,
        "credit": credit, "message_id": message_id, "comment": None, "created_at": now,
    })
    # Ids only: the score's category, never the comment, the contact's address or the link's token.
    log.info("answer recorded", extra={
        "campaign_id": episode.campaign_id, "episode_id": episode.id, "response_id": response.id, "contact_id": episode.contact_id,
        "medium": medium, "category": response.category, "changed": previous_id is not None,
    })
    return response


def accept_comment(
    runtime: Runtime, session: Session, *, response: Response, text: str, now: datetime, outbox: list[dict[str, Any]] | None = None,
) -> Response:
    """A comment that follows the score in its own message (SMS): appended to the answer now;
    the worker notes it on the follow-up task and sends ``response.updated``.
    Flushes, never commits; call ``kick`` after the commit. ``outbox`` as for ``accept_answer``."""
    response.comment = f"{response.comment}\n{text}" if response.comment else text
    session.flush()
    _outbox_row(session, outbox, {
        "kind": "comment", "episode_id": response.episode_id, "response_id": response.id, "previous_id": response.id,
        "credit": False, "message_id": None, "comment": text, "created_at": now,
    })
    return response


def _outbox_row(session: Session, outbox: list[dict[str, Any]] | None, row: dict[str, Any]) -> None:
    if outbox is None:
        session.execute(_OUTBOX_INSERT, row)
    else:
        outbox.append(row)


KICK_GAP = 0.25  # seconds: the kicks of one burst become one task every KICK_GAP (a batch), not one per answer


class _Kicks:
    """Coalesces one process's kicks: the first of a burst goes at once; those that come
    within ``KICK_GAP`` of it are covered by one more, sent ``KICK_GAP`` after it (a task
    claims every row still to do, so one task after the last commit of a burst does them all)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = float("-inf")  # monotonic time of the last kick sent
        self._trailing = False  # a kick is due at the end of the gap and covers every kick until it goes

    def claim(self, runtime: Runtime) -> bool:
        """True if the caller is to submit the kick now; otherwise a kick is due at the end of
        the gap (this call may have started its timer). Never blocks on I/O: a route's event
        loop may call it, and hop to a thread only for the submit (``kick_from_loop``)."""
        with self._lock:
            if self._trailing:
                return False
            wait = self._last + KICK_GAP - time.monotonic()
            if wait <= 0:
                self._last = time.monotonic()
            else:
                self._trailing = True
        if wait <= 0:
            return True
        timer = threading.Timer(wait, self._trail, (runtime,))
        timer.daemon = True
        timer.start()
        return False

    def _trail(self, runtime: Runtime) -> None:
        with self._lock:
            self._trailing, self._last = False, time.monotonic()
        runtime.submit_committed(FOLLOW_THROUGH)


def kick(runtime: Runtime) -> None:
    """Ask a worker to follow through what was just committed, instead of at the next tick.

    Call it after the answer's transaction committed, preferably after the reply
    (FastAPI ``BackgroundTasks``). Never raises for a broker that refuses it: the
    scheduler tick does the work then. With a broker, and in ``pulse run`` (the
    embedded worker: the pass runs in the calling thread, or in the timer's), the
    kicks of a burst become one pass per ``KICK_GAP`` (``_Kicks``), so a pass does a
    batch instead of one answer. Without either (tests, CLI commands) it runs at once
    in the calling thread, joining a pass already running in this process if there is one.
    """
    if _goes_now(runtime):
        runtime.submit_committed(FOLLOW_THROUGH)


async def kick_from_loop(runtime: Runtime) -> None:
    """``kick`` for a route's background task, on the event loop: the coalescing is decided
    there, and only a kick that goes now hops to a worker thread (the submit talks to the
    broker, or runs the embedded worker's pass, or the follow-through itself as ``kick``
    would). Most answers of a burst are covered by a kick already due and take no hop:
    a sync background task took one per answer (≈ 0.1 ms of CPU each)."""
    if _goes_now(runtime):
        await anyio.to_thread.run_sync(runtime.submit_committed, FOLLOW_THROUGH)


def _goes_now(runtime: Runtime) -> bool:
    """Whether this kick is to be submitted now: always without a broker or the embedded worker
    (tests, CLI commands); otherwise as the process's ``_Kicks`` decides (else it is covered by one due)."""
    if isinstance(runtime.queue, InlineQueue) and "inprocess_worker" not in runtime.extras:
        return True
    kicks: _Kicks = runtime.extras.setdefault("answer_kicks", _Kicks())
    return kicks.claim(runtime)
