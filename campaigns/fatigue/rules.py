"""Judging one new touch against the policy and the touches already in the ledger.

Pure functions over in-memory entries: the caller loads the ledger rows that
can matter (one query per batch) and appends each allowed touch before
judging the next, so a batch is judged exactly as if touch by touch.

Windows are half-open: "at most N per D days" means no period of D days
holds more than N, so a touch exactly D days after another is in a new
window. Touches may lie in the future (reservations at a planned invite), so
every window that holds the new touch is checked, not only the trailing one.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from campaigns.fatigue.policy import Policy, Rule

SHOWN = 5  # blocking touches named in one reason; a large account rule says "and N more"
STEP_WORDS = {
    "pre_notice": "pre-notice", "reminder": "reminder", "thank_you": "thank-you",
    "you_said_we_did": "you-said-we-did message", "invite": "invitation",
}


class Subject(Protocol):
    """Whom a touch is about, as the budget sees them: a ``Contact`` or a plain (id, account_id) row."""

    @property
    def id(self) -> int: ...
    @property
    def account_id(self) -> int | None: ...


@dataclass(frozen=True)
class Entry:
    """A ledger row as the rules see it."""

    id: int | None
    contact_id: int
    account_id: int | None
    kind: str
    step: str
    at: datetime
    campaign_id: int | None = None
    trigger: str | None = None
    state: str = "planned"
    message_key: str | None = None

    @property
    def invitation(self) -> bool:
        return self.step == "invite"


@dataclass
class Scope:
    """The entries that can block one contact: its own, and its account's (for account rules)."""

    contact: list[Entry] = field(default_factory=list)
    account: list[Entry] | None = None  # None: the contact has no account

    def add(self, entry: Entry) -> None:
        self.contact.append(entry)
        if self.account is not None:
            self.account.append(entry)

    def remove(self, entry: Entry) -> None:
        self.contact[:] = [e for e in self.contact if e is not entry]
        if self.account is not None:
            self.account[:] = [e for e in self.account if e is not entry]

    def copy(self) -> Scope:
        return Scope(list(self.contact), list(self.account) if self.account is not None else None)

    def pool(self, rule: Rule) -> list[Entry]:
        return self.account if rule.scope == "account" and self.account is not None else self.contact


@dataclass(frozen=True)
class Block:
    rule: str
    touches: tuple[Entry, ...]  # the ledger entries that leave no room


def _crowded(rule: Rule, pool: Sequence[Entry], at: datetime) -> tuple[Entry, ...] | None:
    """The ``limit`` counted entries sharing one window with ``at``, if some window is full."""
    counted = sorted((e for e in pool if rule.counts_touch(e.kind, e.invitation)), key=lambda e: e.at)
    if len(counted) < rule.limit:
        return None
    times = [e.at for e in counted]
    window = rule.window
    # Every window [w, w + D) holding ``at`` starts in (at - D, at]; the fullest
    # one starts at ``at`` itself or at one of the entries in that range.
    starts = times[bisect_right(times, at - window):bisect_right(times, at)] + [at]
    for start in starts:
        first, last = bisect_left(times, start), bisect_left(times, start + window)
        if last - first >= rule.limit:
            return tuple(counted[first:last])
    return None


def first_block(policy: Policy, scope: Scope, *, kind: str, invitation: bool, at: datetime) -> Block | None:
    """The first rule (in policy order, the minimum gap last) a touch at ``at`` would break."""
    if not scope.contact and not scope.account:
        return None  # most contacts of a large selection: nothing in any window
    for rule in policy.rules:
        if not rule.counts_touch(kind, invitation):
            continue
        crowd = _crowded(rule, scope.pool(rule), at)
        if crowd is not None:
            return Block(rule.name, crowd)
    if invitation and policy.min_gap_days > 0:
        gap = policy.min_gap
        near = [e for e in scope.contact if e.invitation and abs(e.at - at) < gap]
        if near:
            return Block(policy.gap_rule, (min(near, key=lambda e: abs(e.at - at)),))
    return None


def earliest_room(policy: Policy, scope: Scope, *, kind: str, invitation: bool, at: datetime, until: datetime | None = None) -> datetime | None:
    """The first moment from ``at`` (up to ``until``) at which the touch would break no rule.

    A blocked touch can only become allowed where some entry leaves a window
    (its time plus that window) or the gap around it ends, so those moments
    are the only candidates worth trying.
    """
    candidates = {at}
    for rule in policy.rules:
        if rule.counts_touch(kind, invitation):
            candidates.update(e.at + rule.window for e in scope.pool(rule) if rule.counts_touch(e.kind, e.invitation))
    if invitation:
        candidates.update(e.at + policy.min_gap for e in scope.contact if e.invitation)
    for moment in sorted(c for c in candidates if c >= at and (until is None or c <= until)):
        if first_block(policy, scope, kind=kind, invitation=invitation, at=moment) is None:
            return moment
    return None


def describe(entry: Entry, *, contact_id: int, now: datetime) -> str:
    """One blocking touch in words: "invited 2026-08-02 by campaign 14"."""
    day = entry.at.date().isoformat()
    source = f"transactional trigger {entry.trigger}" if entry.trigger else (f"campaign {entry.campaign_id}" if entry.campaign_id else "")
    if entry.step == "dismissal":
        text = f"dismissed an in-app prompt {day}" + (f" from {source}" if source else "")
    elif entry.invitation:
        text = (f"invited {day}" if entry.at <= now else f"invitation reserved for {day}") + (f" by {source}" if source else "")
    else:
        text = f"{STEP_WORDS.get(entry.step, entry.step)} {day}" + (f" by {source}" if source else "")
    if entry.contact_id != contact_id:
        text += f" (contact {entry.contact_id} of the same account)"
    return text


def explain(block: Block, *, contact_id: int, now: datetime) -> str:
    """``rule: blocking touch; blocking touch`` — the refusal's reason."""
    touches = [describe(e, contact_id=contact_id, now=now) for e in block.touches]
    if len(touches) > SHOWN:
        touches = touches[:SHOWN - 1] + [f"and {len(touches) - SHOWN + 1} more"]
    return f"{block.rule}: {'; '.join(touches)}"
