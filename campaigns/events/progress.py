"""The one order a message's state moves in, and what each step forward counts for.

    sent < delivered < opened < clicked < answered;  failed is terminal.

Providers report events late, twice and out of order; a message therefore only
ever moves forward along this order (a late ``sent`` never undoes
``delivered``), and once ``failed`` it stays failed. A failure may follow
``delivered`` (an asynchronous bounce) but not engagement: whoever opened a
message received it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

PROGRESS = ("sent", "delivered", "opened", "clicked", "answered")
FAILED = "failed"
# Where a message can be when provider events start to matter. "unknown": the
# worker died before recording the send, and the provider's event now says
# what happened; it moves like "sent".
AFTER_SEND = ("unknown",) + PROGRESS
# Still with us: an event that arrives now waits until the send is recorded.
NOT_YET_SENT = ("sending",)

# Engagement levels counted per contact and medium when a message first reaches them.
LEVELS = ("delivered", "opened", "clicked", "answered")
MEDIUM_LEVELS = {
    "email": ("delivered", "opened", "clicked", "answered"),
    "sms": ("delivered", "answered"),
    "in_app": ("delivered", "opened", "answered"),  # opened: the widget showed the prompt
}


_RANKS = {state: position for position, state in enumerate(PROGRESS)}


def rank(state: str) -> int:
    """Position in ``PROGRESS``; ``unknown`` counts as just before ``sent``."""
    return _RANKS.get(state, -1)


def may_move(current: str, target: str) -> bool:
    """Whether an event saying ``target`` moves a message that is ``current``."""
    if current not in AFTER_SEND:
        return False  # queued, skipped, retrying, failed, sending: nothing to move
    if target == FAILED:
        return rank(current) <= rank("delivered")
    return target in PROGRESS and rank(target) > rank(current)


def allowed_from(target: str) -> tuple[str, ...]:
    """Every state ``target`` may replace, for a conditional UPDATE."""
    return tuple(state for state in AFTER_SEND if may_move(state, target))


@lru_cache(maxsize=1024)  # a few dozen (current, target, medium) triples exist; a batch asks for thousands
def levels_reached(current: str, target: str, medium: str) -> tuple[str, ...]:
    """The engagement levels a move from ``current`` to ``target`` reaches for the first time.

    ``sent → clicked`` on email reaches delivered, opened and clicked: a click
    proves the open that a blocked tracking pixel never reported.
    """
    if target == FAILED:
        return ()
    levels = MEDIUM_LEVELS.get(medium, ())
    return tuple(level for level in levels if rank(current) < rank(level) <= rank(target))


ENGAGED = ("opened", "clicked", "answered")


class Settled(NamedTuple):
    state: str  # where the message ends
    reached: str  # where its progress took it before any failure: what the counters see
    failure_noted: bool  # a failure came after engagement: the state stays, the error is kept


def furthest(current: str, targets: Iterable[str]) -> Settled:
    """Where a message that is ``current`` ends after events saying ``targets``, applied together.

    The events of one batch come in no meaningful order, so the end must not
    depend on it: the furthest progress first, then a failure if one may still
    follow (a bounce after delivery fails the message; after an open or a click
    it only leaves its code on the message).
    """
    return _settle(current, frozenset(targets))


@lru_cache(maxsize=4096)  # (state, set of targets): a few hundred exist, a batch settles thousands of messages
def _settle(current: str, wanted: frozenset[str]) -> Settled:
    best = max((t for t in wanted if t in _RANKS), key=rank, default=None)
    reached = best if best is not None and may_move(current, best) else current
    if FAILED not in wanted:
        return Settled(reached, reached, False)
    if may_move(reached, FAILED):
        return Settled(FAILED, reached, False)
    return Settled(reached, reached, reached in ENGAGED)
