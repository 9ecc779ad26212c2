"""The sentence a person reads on each message: why this medium."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from dispatcher.routing.evidence import MEDIA, Priors

if TYPE_CHECKING:
    from dispatcher.routing.model import Candidate

LABEL = {"email": ("email", "emails"), "sms": ("SMS", "SMS"), "in_app": ("in-app prompt", "in-app prompts")}
INFORMED_ASKS = 5.0  # a group's rate is quoted once it rests on this many (decayed) asks


def history(medium: str, counts: dict[str, np.ndarray]) -> str | None:
    """``answered 2 of 3 SMS``; None if the contact never got a survey on this medium."""
    col = MEDIA.index(medium)
    sent = int(counts["sent"][col])
    if sent == 0:
        return None
    one, many = LABEL[medium]
    text = f"answered {int(counts['answered'][col])} of {sent} {one if sent == 1 else many}"
    extras = []
    if medium == "email" and counts["clicked"][col] > counts["answered"][col]:
        extras.append(f"clicked {int(counts['clicked'][col])}")
    if medium == "email" and counts["opened"][col]:
        extras.append(f"opened {int(counts['opened'][col])}")
    if medium == "in_app" and counts["opened"][col]:
        extras.append(f"shown {int(counts['opened'][col])}")
    if counts["dismissed"][col]:
        extras.append(f"dismissed {int(counts['dismissed'][col])}")
    if counts["bounced"][col]:
        extras.append(f"{int(counts['bounced'][col])} failed to deliver")
    return text + (f" ({', '.join(extras)})" if extras else "")


def _cold_start(medium: str, candidate: Candidate, order: Sequence[str], priors: Priors, prior_mean: np.ndarray, now: datetime) -> str:
    col = MEDIA.index(medium)
    if medium == "in_app" and candidate.last_seen_at is not None:
        days = max(0, int((now - candidate.last_seen_at).total_seconds() // 86400))
        return f"in_app: cold start, seen in product {days} day{'s' if days != 1 else ''} ago"
    group = priors.by_role.get(candidate.role)
    if candidate.role and group is not None and group["sent"][col] >= INFORMED_ASKS:
        return f"{medium}: cold start, {candidate.role} contacts answer {prior_mean[col]:.0%} on {LABEL[medium][0]}"
    if priors.overall["sent"][col] >= INFORMED_ASKS:
        return f"{medium}: cold start, contacts answer {prior_mean[col]:.0%} on {LABEL[medium][0]}"
    if medium == order[0]:
        return f"{medium}: cold start, the first of the campaign's channels"
    return f"{medium}: cold start, estimated {prior_mean[col]:.0%}"


def describe_choice(
    medium: str, *, best: str, explored: bool, estimates: dict[str, float], counts: dict[str, np.ndarray],
    prior_mean: np.ndarray, candidate: Candidate, order: Sequence[str], priors: Priors, now: datetime,
) -> str:
    """``sms: answered 2 of 3 SMS; email: answered 0 of 4 emails (opened 1)``, ``in_app: cold start, …``,
    ``email: exploring (est. 9% vs sms 31%)``."""
    others = [f"{m}: {text}" for m in estimates if m != medium and (text := history(m, counts))]
    own = history(medium, counts)
    if explored:
        head = f"{medium}: exploring (est. {estimates[medium]:.0%} vs {best} {estimates[best]:.0%})"
    elif own is not None:
        head = f"{medium}: {own}"
    elif others:
        head = f"{medium}: no survey on it yet, est. {estimates[medium]:.0%}"
    else:
        head = _cold_start(medium, candidate, order, priors, prior_mean, now)
    return "; ".join([head, *others])
