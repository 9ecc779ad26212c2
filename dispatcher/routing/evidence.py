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
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from campaigns.db import one_of
from campaigns.events.decay import forward_weight
from campaigns.events.models import EngagementCounter
from campaigns.people.models import Contact

MEDIA = ("email", "sms", "in_app")
SIGNALS = ("sent", "opened", "clicked", "answered", "dismissed", "bounced")
# A contact's segment for priors: role, whether they have a phone, and how recently they used the
# product (within 3, 10, 30 days, or longer ago / never: 0, 1, 2, 3).
SEEN_BUCKET_DAYS = (3, 10, 30)
Segment = tuple[str | None, bool, int]
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

    def blank(self) -> np.ndarray:
        """Per row: whether the contact has no evidence at all (every weight and count zero)."""
        return ~np.any([np.any(v != 0, axis=1) for v in (*self.weights.values(), *self.counts.values())], axis=0)

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
            .where(one_of(session, EngagementCounter.contact_id, ids[start:start + _CHUNK]))
        )
        for contact_id, medium, *values in rows:
            if medium not in MEDIA:
                continue
            row, col = evidence.index[contact_id], MEDIA.index(medium)
            for k, signal in enumerate(SIGNALS):
                evidence.counts[signal][row, col] = values[k] or 0
                evidence.weights[signal][row, col] = (values[len(SIGNALS) + k] or 0.0) * scale
    return evidence


def seen_bucket(last_seen_at: datetime | None, now: datetime) -> int:
    """0, 1, 2 for seen in the product within ``SEEN_BUCKET_DAYS``; 3 for longer ago or never."""
    if last_seen_at is None:
        return len(SEEN_BUCKET_DAYS)
    return next((k for k, days in enumerate(SEEN_BUCKET_DAYS) if now - last_seen_at <= timedelta(days=days)), len(SEEN_BUCKET_DAYS))


def _signal_sums() -> dict[str, np.ndarray]:
    return {s: np.zeros(len(MEDIA)) for s in SIGNALS}


@dataclass
class Priors:
    """Everyone's decayed evidence per medium: overall, per contact role, and per segment
    (role, phone or not, product-use recency: ``Segment``)."""

    overall: dict[str, np.ndarray] = field(default_factory=_signal_sums)
    by_role: dict[str | None, dict[str, np.ndarray]] = field(default_factory=dict)
    by_segment: dict[Segment, dict[str, np.ndarray]] = field(default_factory=dict)

    def add(self, segment: Segment, medium: str, values: dict[str, float]) -> None:
        """Count one group's decayed sums in its segment, its role and overall."""
        col = MEDIA.index(medium)
        for group in (self.overall, self.by_role.setdefault(segment[0], _signal_sums()), self.by_segment.setdefault(segment, _signal_sums())):
            for signal, value in values.items():
                group[signal][col] += value


def load_priors(session: Session, *, now: datetime, half_life_days: float) -> Priors:
    """One GROUP BY over the counters joined to contacts' segments (role, phone, recency)."""
    scale = 1.0 / forward_weight(now, half_life_days)
    sums = [func.sum(getattr(EngagementCounter, f"weight_{s}")) for s in SIGNALS]
    has_phone = Contact.phone.is_not(None)
    bucket = case(
        *((Contact.last_seen_at >= now - timedelta(days=days), k) for k, days in enumerate(SEEN_BUCKET_DAYS)),
        else_=len(SEEN_BUCKET_DAYS),
    )
    rows = session.execute(
        select(Contact.role, has_phone, bucket, EngagementCounter.medium, *sums)
        .join(Contact, Contact.id == EngagementCounter.contact_id)
        .group_by(Contact.role, has_phone, bucket, EngagementCounter.medium)
    )
    priors = Priors()
    for role, phone, seen, medium, *values in rows:
        if medium in MEDIA:
            priors.add((role, bool(phone), int(seen)), medium, {s: float(v or 0.0) * scale for s, v in zip(SIGNALS, values, strict=True)})
    return priors


def cached_priors(extras: dict[str, object], session: Session, *, now: datetime, half_life_days: float) -> Priors:
    """``load_priors`` at most once per ``PRIOR_TTL`` of clock time per process (kept in ``extras``)."""
    cached = extras.get("routing_priors")
    if isinstance(cached, tuple):
        at, half_life, priors = cached
        if half_life == half_life_days and at <= now < at + PRIOR_TTL:
            return priors
    priors = load_priors(session, now=now, half_life_days=half_life_days)
    extras["routing_priors"] = (now, half_life_days, priors)
    return priors
