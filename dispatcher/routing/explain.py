"""One contact's channels as channel choice sees them: reachability, evidence, estimate."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.reach import Reach
from dispatcher.routing.evidence import MEDIA, SIGNALS, cached_priors, load_evidence
from dispatcher.routing.model import Candidate, posterior
from dispatcher.routing.reasons import history
from dispatcher.runtime.core import Runtime


def contact_channels(runtime: Runtime, session: Session, contact: Contact) -> dict[str, Any]:
    """Per medium: whether the contact can be reached (and why not), the plain and decayed
    evidence, the prior and the estimated chance of an answer (in the order email, sms, in_app,
    as a campaign listing all three would see it). Reads only."""
    now = runtime.clock.now()
    half_life = runtime.settings.channel_half_life_days
    reach = Reach.load(session, [contact], allowed=MEDIA, available=runtime.available_media, now=now)
    evidence = load_evidence(session, [contact.id], now=now, half_life_days=half_life)
    priors = cached_priors(runtime.extras, session, now=now, half_life_days=half_life)
    candidate = Candidate(contact.id, tuple(reach.media(contact)), contact.role, contact.last_seen_at, has_phone=contact.phone is not None)
    alpha, beta, prior_mean = posterior([candidate], MEDIA, evidence, priors, now)
    row = evidence.index[contact.id]
    counts = {signal: values[row] for signal, values in evidence.counts.items()}
    media = []
    for col, medium in enumerate(MEDIA):
        problem = reach.problem(contact, medium)
        media.append({
            "medium": medium,
            "reachable": problem is None,
            "unreachable_reason": problem,
            "estimate": round(float(alpha[0, col] / (alpha[0, col] + beta[0, col])), 4),
            "prior": round(float(prior_mean[0, col]), 4),
            "evidence": {signal: int(evidence.counts[signal][row, col]) for signal in SIGNALS},
            "decayed_evidence": {signal: round(float(evidence.weights[signal][row, col]), 3) for signal in SIGNALS},
            "summary": history(medium, counts),
        })
    return {"contact_id": contact.id, "half_life_days": half_life, "as_of": now, "media": media}
