"""The channel-choice model: a Beta posterior per contact × medium, chosen by Thompson sampling.

Pure arithmetic over a whole batch (numpy), no database: ``choose_media`` takes
the batch's evidence and the population priors (``evidence``) and returns, per
candidate, the medium, every available medium's estimate and a reason a person
can read.

For one contact and medium, the chance of an answer is Beta(α, β) with

    α = κ·μ + S,    β = κ·(1 − μ) + F

- S (successes, decayed): answers, plus weak credit for clicks that did not end
  in an answer and weaker for email opens (Apple Mail Privacy Protection opens
  everything; an in-app prompt merely shown earns nothing);
- F (failures, decayed): asks without an answer (so the unanswered invite is
  evidence when its reminder is routed), dismissals and bounces on top, and
  for a reminder, ``EPISODE_NO_REACTION`` more on the medium this episode's
  last message went unanswered on: someone who ignored an email three days ago
  is less likely than their history says to read the next one now;
- μ, the prior mean, is empirical Bayes in three levels from everyone's
  history: per medium towards ``COLD_START_MEAN``, per role towards the
  medium's mean, per segment (role, phone number or not, product use within
  3 / 10 / 30 days or not) towards the role's — for in-app the role's mean is
  first raised for people seen lately and lowered for the others, a guess the
  segment's own rate replaces as it accrues; κ (``PRIOR_STRENGTH``) is how many
  asks the prior is worth.

Exploration is Thompson sampling (tempered, ``EXPLORE_SHARPNESS``) from a
seeded generator, for contacts with a history of their own; contacts without
one go by the estimates and the order.

Availability is decided elsewhere (``campaigns.programs.reach``): an
unavailable medium is never chosen. The campaign's order breaks ties and, at
cold start (everything equal), decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from dispatcher.routing.evidence import MEDIA, Evidence, Priors, Segment, seen_bucket
from dispatcher.routing.reasons import describe_choice

ChoiceMode = Literal["learned", "ordered"]
# κ: the prior weighs as much as two asks of the contact. People differ a lot on a medium (most answer
# one medium and ignore the others), so the spread of individual rates around a medium's mean is wide:
# a rate of 0.2 with a standard deviation near 0.25 is Beta with κ ≈ 2 by the method of moments. A
# stronger prior (4 before) let one answer count for too little (bench/channel_ceilings.py).
PRIOR_STRENGTH = 2.0
COLD_START_MEAN = 0.2  # before anyone has answered anything
MEDIUM_SHRINK = 10.0  # asks of everyone on a medium before its own rate outweighs COLD_START_MEAN
ROLE_SHRINK = 20.0  # asks of a role on a medium before the role's rate outweighs the medium's
SEGMENT_SHRINK = 20.0  # asks of a segment (role, phone, recency) before its rate outweighs the role's
# Weak signals. SendGrid's flagged Apple Mail Privacy Protection opens never reach ``opened`` (they
# count as deliveries, ``campaigns.events.outcomes``); what is left is mostly people, but a person who
# reads a survey email and leaves it says little about answering. On the simulator's population with
# opens, clicks and prompts shown (bench/channel_ceilings.py, seeds 7-9, all six orders) an open worth
# 0.1 or 0.2, a click 0.5, or an extra failure of 0.2-0.6 per email never opened or in-app prompt
# never shown (−0.5: half a failure) all moved campaign 4 by under ±0.01, none on every order and seed.
CLICK_CREDIT = 0.3  # a click without an answer: interest, a third of an answer
OPEN_CREDIT = np.array([0.03, 0.0, 0.0])  # by MEDIA: an open is a small credit; a prompt shown is no interest yet
DISMISS_PENALTY = 0.5  # a dismissal is a "no" on top of the unanswered ask
BOUNCE_PENALTY = 1.0  # a failed delivery: the medium does not even reach them
EPISODE_NO_REACTION = 0.5  # a reminder: the same episode's last ask on this medium went unanswered
ORDER_DISCOUNT = 0.97  # each later position in the campaign's list lowers the prior a little
# Thompson draws come from Beta(s·α, s·β): centred on the same estimate with about
# 1/√s of the spread, so exploring shrinks as evidence grows and effectively stops
# once a medium is answered, while media nobody tried on a contact without an answer
# still get their turn. 16 against 4 before: by the fourth campaign +0.04 episode answer
# rate to the oracle (bench/channel_ceilings.py, three seeds, all six channel orders).
EXPLORE_SHARPNESS = 16.0
# In-app before a segment has its own history: seen within 3 days raises the prior, beyond 10 lowers it
# (by seen_bucket); the segment's own rate replaces this guess as its asks accrue.
RECENT_FACTORS = (1.3, 1.0, 0.75, 0.75)


@dataclass(frozen=True)
class Candidate:
    """One episode to route: its contact and the media it can be reached on (campaign order)."""

    contact_id: int
    available: tuple[str, ...]
    role: str | None = None
    last_seen_at: datetime | None = None
    unanswered: str | None = None  # a reminder: the medium of the episode's last ask, still unanswered
    has_phone: bool | None = None  # None: taken as whether SMS is among ``available``

    def segment(self, now: datetime) -> Segment:
        phone = "sms" in self.available if self.has_phone is None else self.has_phone
        return (self.role, phone, seen_bucket(self.last_seen_at, now))


@dataclass(frozen=True)
class Choice:
    medium: str | None  # None: nothing available
    estimates: dict[str, float]  # each available medium's posterior mean
    reason: str
    explored: bool = False  # Thompson picked another medium than the best estimate


def successes_failures(weights: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """S and F (see the module) from decayed signal weights shaped (…, MEDIA)."""
    answered = weights["answered"]
    clicks = np.maximum(weights["clicked"] - answered, 0.0)
    opens = np.maximum(weights["opened"] - np.maximum(weights["clicked"], answered), 0.0)
    s = answered + CLICK_CREDIT * clicks + OPEN_CREDIT * opens
    f = np.maximum(weights["sent"] - s, 0.0) + DISMISS_PENALTY * weights["dismissed"] + BOUNCE_PENALTY * weights["bounced"]
    return s, f


def medium_means(priors: Priors) -> np.ndarray:
    """Everyone's answer rate per medium, shrunk towards ``COLD_START_MEAN``."""
    s, f = successes_failures(priors.overall)
    return (s + COLD_START_MEAN * MEDIUM_SHRINK) / (s + f + MEDIUM_SHRINK)


def _shrunk(group: dict[str, np.ndarray] | None, towards: np.ndarray, strength: float) -> np.ndarray:
    if group is None:
        return towards
    s, f = successes_failures(group)
    return (s + towards * strength) / (s + f + strength)


def prior_means(priors: Priors, candidates: Sequence[Candidate], now: datetime) -> np.ndarray:
    """Per candidate × medium, empirical Bayes in three levels: everyone's rate per medium, the
    role's shrunk towards it, the segment's (role, phone, product-use recency) shrunk towards the
    role's — for in-app, the role's first scaled by ``RECENT_FACTORS`` for the recency."""
    overall = medium_means(priors)
    in_app = MEDIA.index("in_app")
    table: dict[Segment, np.ndarray] = {}
    segments = [c.segment(now) for c in candidates]
    for segment in set(segments):
        role = _shrunk(priors.by_role.get(segment[0]), overall, ROLE_SHRINK)
        guess = role.copy()
        guess[in_app] *= RECENT_FACTORS[segment[2]]
        table[segment] = _shrunk(priors.by_segment.get(segment), guess, SEGMENT_SHRINK)
    return np.array([table[s] for s in segments]).reshape(len(candidates), len(MEDIA))


def posterior(candidates: Sequence[Candidate], order: Sequence[str], evidence: Evidence, priors: Priors, now: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(α, β, prior mean), each shaped (candidates, MEDIA)."""
    position = np.array([order.index(m) if m in order else len(order) for m in MEDIA], dtype=float)
    mean = np.clip(prior_means(priors, candidates, now) * ORDER_DISCOUNT ** position, 0.005, 0.95)
    rows = evidence.rows([c.contact_id for c in candidates])
    own = {signal: values[rows] for signal, values in evidence.weights.items()}
    s, f = successes_failures(own)
    f = f + EPISODE_NO_REACTION * np.array([[m == c.unanswered for m in MEDIA] for c in candidates], dtype=float)
    return PRIOR_STRENGTH * mean + s, PRIOR_STRENGTH * (1.0 - mean) + f, mean


def choose_media(
    candidates: Sequence[Candidate], *, order: Sequence[str], evidence: Evidence, priors: Priors,
    mode: ChoiceMode = "learned", explore: bool = True, seed: Sequence[int] = (0,), now: datetime,
) -> list[Choice]:
    """The medium for each candidate, with estimates and reason. Deterministic for a given seed.

    Only media in the candidate's ``available`` can be chosen. ``ordered`` takes
    the first available (today's behaviour) and still reports the estimates;
    ``learned`` takes the highest Thompson draw (``explore``) or the highest
    estimate (not ``explore``), ties going to the earlier medium in ``order``.
    """
    if not candidates:
        return []
    alpha, beta, prior_mean = posterior(candidates, order, evidence, priors, now)
    estimate = alpha / (alpha + beta)
    allowed = np.array([[m in c.available for m in MEDIA] for c in candidates])
    tie_break = np.array([-1e-9 * (order.index(m) if m in order else len(order)) for m in MEDIA])
    best = np.where(allowed, estimate + tie_break, -np.inf).argmax(axis=1)
    rows = evidence.rows([c.contact_id for c in candidates])
    picked = best
    if mode == "learned" and explore:
        # Cold start (no ask of this contact on any medium yet) goes by the estimates and the
        # order; exploring starts with the contact's own evidence, so the same row draws the same.
        draws = np.random.default_rng(list(seed)).beta(alpha * EXPLORE_SHARPNESS, beta * EXPLORE_SHARPNESS)
        known = evidence.weights["sent"][rows].sum(axis=1) > 0
        picked = np.where(known, np.where(allowed, draws + tie_break, -np.inf).argmax(axis=1), best)
    choices = []
    for i, candidate in enumerate(candidates):
        estimates = {m: round(float(estimate[i, MEDIA.index(m)]), 4) for m in order if m in candidate.available}
        if not estimates:
            choices.append(Choice(None, {}, "no available channel"))
            continue
        if mode == "ordered":
            medium = next(m for m in order if m in candidate.available)
            choices.append(Choice(medium, estimates, f"{medium}: ordered, the first of the campaign's channels the contact can be reached on"))
            continue
        medium = MEDIA[int(picked[i])]
        explored = int(picked[i]) != int(best[i])
        counts = {signal: values[rows[i]] for signal, values in evidence.counts.items()}
        reason = describe_choice(
            medium, best=MEDIA[int(best[i])], explored=explored, estimates=estimates, counts=counts,
            prior_mean=prior_mean[i], candidate=candidate, order=order, priors=priors, now=now,
        )
        choices.append(Choice(medium, estimates, reason, explored))
    return choices
