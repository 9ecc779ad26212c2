"""Channel choice: which medium each contact gets, learned from how they answer.

The batch interface (for a step planned row by row or set-based):

    evidence = load_evidence(session, contact_ids, now=now, half_life_days=h)   # one query
    priors = cached_priors(runtime.extras, session, now=now, half_life_days=h) # one query an hour
    choices = choose_media(candidates, order=campaign.channels, evidence=evidence, priors=priors,
                           mode=campaign.channel_choice, explore=settings.channel_explore,
                           seed=step_seed(settings, campaign_id, step_id, first_episode_id), now=now)

``route`` does the three for a runtime. ``choose_media`` is pure: the same
inputs and seed give the same choices (a run can be replayed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from dispatcher.routing.evidence import (
    MEDIA,
    Evidence,
    Priors,
    cached_priors,
    load_evidence,
    load_priors,
)
from dispatcher.routing.model import Candidate, Choice, ChoiceMode, choose_media
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings

__all__ = [
    "MEDIA", "Candidate", "Choice", "ChoiceMode", "Evidence", "Priors", "cached_priors", "choose_media",
    "load_evidence", "load_priors", "route", "step_seed",
]


def step_seed(settings: Settings, campaign_id: int | None, step_id: int | None, batch_key: int) -> tuple[int, ...]:
    """The random source's seed for one batch: replaying a step draws the same numbers."""
    return (settings.channel_seed, campaign_id or 0, step_id or 0, batch_key)


def route(
    runtime: Runtime, session: Session, candidates: Sequence[Candidate], *, order: Sequence[str], mode: ChoiceMode,
    campaign_id: int | None, step_id: int | None, batch_key: int, now: datetime,
) -> list[Choice]:
    """Read the batch's evidence (one query) and the cached priors, then choose for every candidate.

    A contact without any history of their own (no ask, open, answer… on any medium) is chosen for
    by the estimates and the order alone — no random draw — so every such candidate with the same
    fields gets the same choice: the model is asked once per distinct one (``blank_key``), with the
    candidates that have a history, and the answer is shared.
    """
    settings = runtime.settings
    half_life = settings.channel_half_life_days
    # Read in both modes: an ordered campaign's messages still record honest estimates.
    evidence = load_evidence(session, [c.contact_id for c in candidates], now=now, half_life_days=half_life)
    priors = cached_priors(runtime.extras, session, now=now, half_life_days=half_life)
    blank = evidence.blank()
    asked: list[Candidate] = []
    shared: dict[tuple[object, ...], int] = {}  # a blank candidate's fields → its representative's position in ``asked``
    positions: list[int] = []
    for candidate in candidates:
        if blank[evidence.index[candidate.contact_id]]:
            key = blank_key(candidate)
            position = shared.get(key)
            if position is None:
                position = shared[key] = len(asked)
                asked.append(candidate)
        else:
            position = len(asked)
            asked.append(candidate)
        positions.append(position)
    choices = choose_media(
        asked, order=order, evidence=evidence, priors=priors, mode=mode, explore=settings.channel_explore,
        seed=step_seed(settings, campaign_id, step_id, batch_key), now=now,
    )
    return [choices[p] for p in positions]


def blank_key(candidate: Candidate) -> tuple[object, ...]:
    """What the model reads of a candidate without a history: everything but the contact."""
    return (candidate.available, candidate.role, candidate.last_seen_at, candidate.unanswered, candidate.has_phone)
