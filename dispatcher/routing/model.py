"""The channel-choice model: a Beta posterior per contact × medium, chosen by Thompson sampling.

Pure arithmetic over a whole batch (numpy), no database: ``choose_media`` takes
the batch's evidence and the population priors (``evidence``) and returns, per
candidate, the medium, every available medium's estimate and a reason a person
can read.

For one contact and medium, the chance of an answer is Beta(α, β) with

    α = κ·μ + S,    β = κ·(1 − μ) + F

- S (successes, decayed): answers, plus weak credit for clicks that did not end
  in an answer and weaker for opens (Apple Mail Privacy Protection opens
  everything; an in-app prompt shown counts a little more);
- F (failures, decayed): asks without an answer (so the unanswered invite is
  evidence when its reminder is routed), dismissals and bounces on top, and
  for a reminder, ``EPISODE_NO_REACTION`` more on the medium this episode's
  last message went unanswered on: someone who ignored an email three days ago
  is less likely than their history says to read the next one now;
- μ, the prior mean, is shrunk in two levels from everyone's history: per
  medium towards ``COLD_START_MEAN``, then per role towards the medium's mean;
  an in-app prompt's prior is raised for people seen in the product lately;
  κ (``PRIOR_STRENGTH``) is how many asks the prior is worth.

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

from dispatcher.routing.evidence import MEDIA, Evidence, Priors
from dispatcher.routing.reasons import describe_choice

ChoiceMode = Literal["learned", "ordered"]
PRIOR_STRENGTH = 4.0  # κ: the prior weighs as much as four asks of the contact
COLD_START_MEAN = 0.2  # before anyone has answered anything
MEDIUM_SHRINK = 10.0  # asks of everyone on a medium before its own rate outweighs COLD_START_MEAN
ROLE_SHRINK = 20.0  # asks of a role on a medium before the role's rate outweighs the medium's
CLICK_CREDIT = 0.3  # a click without an answer: interest, a third of an answer
OPEN_CREDIT = np.array([0.03, 0.0, 0.1])  # by MEDIA: email opens are mostly machines; in-app: prompt shown
DISMISS_PENALTY = 0.5  # a dismissal is a "no" on top of the unanswered ask
BOUNCE_PENALTY = 1.0  # a failed delivery: the medium does not even reach them
EPISODE_NO_REACTION = 2.5  # a reminder: the same episode's last ask on this medium went unanswered
ORDER_DISCOUNT = 0.97  # each later position in the campaign's list lowers the prior a little
RECENT_SEEN_DAYS = (3, 10)  # in-app: seen within 3 days raises the prior, beyond 10 lowers it
RECENT_FACTORS = (1.3, 1.0, 0.75)


@dataclass(frozen=True)
class Candidate:
    """One episode to route: its contact and the media it can be reached on (campaign order)."""

    contact_id: int
    available: tuple[str, ...]
    role: str | None = None
    last_seen_at: datetime | None = None
    unanswered: str | None = None  # a reminder: the medium of the episode's last ask, still unanswered


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


def role_means(priors: Priors, roles: Sequence[str | None]) -> np.ndarray:
    """Per candidate role × medium: the role's rate shrunk towards the medium's."""
    overall = medium_means(priors)
    table: dict[str | None, np.ndarray] = {}
    for role in set(roles):
        group = priors.by_role.get(role)
        if group is None:
            table[role] = overall
            continue
        s, f = successes_failures(group)
        table[role] = (s + overall * ROLE_SHRINK) / (s + f + ROLE_SHRINK)
    return np.array([table[r] for r in roles]).reshape(len(roles), len(MEDIA))


def _recency(candidates: Sequence[Candidate], now: datetime) -> np.ndarray:
    factors = np.ones((len(candidates), len(MEDIA)))
    col = MEDIA.index("in_app")
    for i, c in enumerate(candidates):
        if c.last_seen_at is not None:
            days = (now - c.last_seen_at).total_seconds() / 86400
            factors[i, col] = RECENT_FACTORS[0] if days <= RECENT_SEEN_DAYS[0] else RECENT_FACTORS[1] if days <= RECENT_SEEN_DAYS[1] else RECENT_FACTORS[2]
    return factors


def posterior(candidates: Sequence[Candidate], order: Sequence[str], evidence: Evidence, priors: Priors, now: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(α, β, prior mean), each shaped (candidates, MEDIA)."""
    position = np.array([order.index(m) if m in order else len(order) for m in MEDIA], dtype=float)
    mean = role_means(priors, [c.role for c in candidates]) * _recency(candidates, now) * ORDER_DISCOUNT ** position
    mean = np.clip(mean, 0.005, 0.95)
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
        draws = np.random.default_rng(list(seed)).beta(alpha, beta)
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
