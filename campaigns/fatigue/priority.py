"""Survey-kind priority: a higher-priority invitation may take the place of lower-priority reservations.

Only reservations nobody has heard of yet give way: a campaign's invitation
that is not planned into a message, whose campaign has sent or planned nothing
else to the contact (no pre-notice), and that lies in the future. Transactional
sends never give way: their message is already queued. The contact's later
steps in the preempted campaign are skipped with the reason (see
``dispatcher.sending.fatigue``), so nobody is told of a survey that will not come.
"""

from __future__ import annotations

from datetime import datetime

from campaigns.fatigue.policy import Policy
from campaigns.fatigue.rules import Entry, Scope, first_block

PREEMPTED = "preempted"  # the refusal code of a preempted campaign's later steps


def _announced(entry: Entry, scope: Scope) -> bool:
    return any(other is not entry and other.campaign_id == entry.campaign_id for other in scope.contact)


def preemptible(policy: Policy, scope: Scope, *, kind: str, at: datetime, now: datetime) -> list[Entry]:
    """The fewest lower-priority, unannounced reservations whose release leaves room at ``at``; [] if none would."""
    mine = policy.kinds[kind].priority
    candidates = [
        e for e in scope.contact
        if e.invitation and e.state == "reserved" and e.message_key is None and e.trigger is None and e.id is not None
        and e.campaign_id is not None and e.at > now and policy.kinds[e.kind].priority < mine and not _announced(e, scope)
    ]
    # Lowest priority first; among equals the latest, which has the most time to find another slot.
    candidates.sort(key=lambda e: (policy.kinds[e.kind].priority, -e.at.timestamp()))
    trial, taken = scope.copy(), []
    for entry in candidates:
        trial.remove(entry)
        taken.append(entry)
        if first_block(policy, trial, kind=kind, invitation=True, at=at) is None:
            break
    else:
        return []
    for entry in reversed(taken[:-1]):  # give back what was not needed
        trial.add(entry)
        if first_block(policy, trial, kind=kind, invitation=True, at=at) is not None:
            trial.remove(entry)
        else:
            taken.remove(entry)
    return taken
