"""What channel choice reads from the database: one query per batch, one cached query for priors.

Kept apart from the arithmetic (``model``) so a set-based step can feed the
model from its own reads. Both reads return plain arrays indexed by
``MEDIA``; decayed values are the forward-decayed weights divided by the
weight of ``now`` (``campaigns.events.decay``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.events.decay import forward_weight
from campaigns.events.models import EngagementCounter
from campaigns.people.models import Contact

MEDIA = ("email", "sms", "in_app")
SIGNALS = ("sent", "opened", "clicked", "answered", "dismissed", "bounced")
PRIOR_TTL = timedelta(hours=1)  # population priors move slowly; one query an hour of (clock) time
_CHUNK = 1000


def _zeros(rows: int) -> dict[str, np.ndarray]:
    return {signal: np.zeros((rows, len(MEDIA))) for signal in SIGNALS}


@dataclass
class Evidence:
    """Per contact × medium: decayed signal weights (``weights``) and plain counts (``counts``)."""

    index: dict[int, int]  # contact id → row
    weights: dict[str, np.ndarray]  # signal → (contacts, MEDIA) decayed
    counts: dict[str, np.ndarray]  # signal → (contacts, MEDIA) plain, for reasons people read

    @classmethod
    def empty(cls, contact_ids: Sequence[int]) -> Evidence:
        index = {cid: i for i, cid in enumerate(dict.fromkeys(contact_ids))}
        return cls(index, _zeros(len(index)), _zeros(len(index)))

    def rows(self, contact_ids: Sequence[int]) -> np.ndarray:
        return np.array([self.index[cid] for cid in contact_ids], dtype=np.int64)


def load_evidence(session: Session, contact_ids: Sequence[int], *, now: datetime, half_life_days: float) -> Evidence:
    """The batch's engagement counters in one query (chunked above 1,000 ids)."""
    evidence = Evidence.empty(contact_ids)
    ids = list(evidence.index)
    scale = 1.0 / forward_weight(now, half_life_days)
    columns = [getattr(EngagementCounter, s) for s in SIGNALS] + [getattr(EngagementCounter, f"weight_{s}") for s in SIGNALS]
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(EngagementCounter.contact_id, EngagementCounter.medium, *columns)
            .where(EngagementCounter.contact_id.in_(ids[start:start + _CHUNK]))
        )
        for contact_id, medium, *values in rows:
            if medium not in MEDIA:
                continue
            row, col = evidence.index[contact_id], MEDIA.index(medium)
            for k, signal in enumerate(SIGNALS):
                evidence.counts[signal][row, col] = values[k] or 0
                evidence.weights[signal][row, col] = (values[len(SIGNALS) + k] or 0.0) * scale
    return evidence


@dataclass
class Priors:
    """Everyone's decayed evidence per medium, overall and per contact role."""

    overall: dict[str, np.ndarray] = field(default_factory=lambda: {s: np.zeros(len(MEDIA)) for s in SIGNALS})
    by_role: dict[str | None, dict[str, np.ndarray]] = field(default_factory=dict)


def load_priors(session: Session, *, now: datetime, half_life_days: float) -> Priors:
    """One GROUP BY over the counters joined to contacts' roles."""
    scale = 1.0 / forward_weight(now, half_life_days)
    sums = [func.sum(getattr(EngagementCounter, f"weight_{s}")) for s in SIGNALS]
    rows = session.execute(
        select(Contact.role, EngagementCounter.medium, *sums)
        .join(Contact, Contact.id == EngagementCounter.contact_id)
        .group_by(Contact.role, EngagementCounter.medium)
    )
    priors = Priors()
    for role, medium, *values in rows:
        if medium not in MEDIA:
            continue
        col = MEDIA.index(medium)
        group = priors.by_role.setdefault(role, {s: np.zeros(len(MEDIA)) for s in SIGNALS})
        for k, signal in enumerate(SIGNALS):
            value = float(values[k] or 0.0) * scale
            group[signal][col] += value
            priors.overall[signal][col] += value
    return priors


def cached_priors(extras: dict[str, object], session: Session, *, now: datetime, half_life_days: float) -> Priors:
    """``load_priors`` at most once per ``PRIOR_TTL`` of clock time per process (kept in ``extras``)."""
    cached = extras.get("routing_priors")
    if isinstance(cached, tuple):
        at, half_life, priors = cached
        if half_life == half_life_days and at <= now < at + PRIOR_TTL:
            return priors  # type: ignore[no-any-return]
    priors = load_priors(session, now=now, half_life_days=half_life_days)
    extras["routing_priors"] = (now, half_life_days, priors)
    return priors
