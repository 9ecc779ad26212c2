"""The global fatigue budget: one ledger per contact across every survey kind, campaign and trigger.

Check-and-reserve is one database transaction (the caller's): lock the
contacts and their accounts, read the policy in force and the ledger rows
that can matter, judge each touch in order, write the allowed ones in one
insert. The database is the only source of truth; no cache can let a touch
through that the ledger would refuse.

Invitations are reserved when a contact is selected (at the planned invite
time); the invite message later takes over that reservation instead of
counting twice. Every other survey message counts against message rules when
it is planned. Releases happen when a planned message never goes out.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from campaigns.fatigue import ledger
from campaigns.fatigue.ledger import CampaignState
from campaigns.fatigue.policy import Policy
from campaigns.fatigue.priority import PREEMPTED, preemptible
from campaigns.fatigue.rules import Entry, Scope, Subject, earliest_room, explain, first_block
from campaigns.fatigue.service import current_policy
from campaigns.people.models import Contact
from dispatcher.runtime.metrics import count_refusals as counted
from dispatcher.sending.budget import Refusal, Touch

log = logging.getLogger(__name__)


def transactional_trigger(campaign: CampaignState | None) -> str | None:
    """The trigger of a transactional program ("transactional csat: ticket_closed" → ticket_closed)."""
    if campaign is None or campaign.mode != "transactional":
        return None
    return campaign.name.split(": ", 1)[1] if ": " in campaign.name else campaign.name


def _row(entry: Entry, *, medium: str | None, policy: Policy, now: datetime) -> dict[str, Any]:
    return {
        "contact_id": entry.contact_id, "account_id": entry.account_id, "kind": entry.kind, "step": entry.step,
        "medium": medium, "campaign_id": entry.campaign_id, "trigger": entry.trigger, "message_key": entry.message_key,
        "state": entry.state, "policy_version": policy.version, "at": entry.at, "created_at": now,
        "sent_at": now if entry.state == "sent" else None, "released_at": None,
    }


class FatigueBudget:
    """The ``dispatcher.sending.budget.Budget`` every runtime uses. Stateless: safe to share between threads."""

    def reserve_invitations(self, session: Session, *, kind: str, campaign_id: int, contacts: Sequence[Contact], at: datetime, now: datetime) -> dict[int, Refusal]:
        """Reserve an invitation at ``at`` for each contact with room; the refused, by contact id.

        Idempotent for campaigns: a contact already holding this campaign's
        reservation at ``at`` (a batch run twice) is neither refused nor reserved again.
        """
        return self._invitations(session, kind=kind, campaign_id=campaign_id, contacts=contacts, at=at, now=now, reserve=True)

    def check_invitations(self, session: Session, *, kind: str, contacts: Sequence[Contact], at: datetime, now: datetime) -> dict[int, Refusal]:
        """What ``reserve_invitations`` would refuse; reads only, locks nothing."""
        return self._invitations(session, kind=kind, campaign_id=None, contacts=contacts, at=at, now=now, reserve=False)

    def reserve_quiet(self, session: Session, *, kind: str, campaign_id: int, contacts: Sequence[Subject], at: datetime, now: datetime) -> set[int]:
        """Reserve, set-based, the invitation of every contact whose ledger holds nothing that could matter
        at ``at``; their ids. The others (and every contact of a cancelled or closed campaign) are left
        for ``reserve_invitations``, which judges them one by one and gives each refusal its reason.
        """
        if not contacts:
            return set()
        ledger.lock_scopes(session, contact_ids=[c.id for c in contacts], account_ids=[c.account_id for c in contacts if c.account_id is not None])
        policy = current_policy(session)
        campaign = ledger.campaign_for_reservation(session, campaign_id, lock=True)
        if campaign is None or campaign.status in ("cancelled", "closed"):
            return set()
        reach = policy.longest_window
        return set(ledger.reserve_where_quiet(
            session, contacts=contacts, policy=policy, kind=kind, campaign_id=campaign_id,
            trigger=transactional_trigger(campaign), at=at, start=at - reach, end=at + policy.longest_deferral + reach, now=now,
        ))

    def _invitations(self, session: Session, *, kind: str, campaign_id: int | None, contacts: Sequence[Contact], at: datetime, now: datetime, reserve: bool) -> dict[int, Refusal]:
        if not contacts:
            return {}
        if reserve:
            ledger.lock_scopes(session, contact_ids=[c.id for c in contacts], account_ids=[c.account_id for c in contacts if c.account_id is not None])
        policy = current_policy(session)
        campaign = ledger.campaign_for_reservation(session, campaign_id, lock=reserve) if campaign_id is not None else None
        if reserve and campaign is not None and campaign.status in ("cancelled", "closed"):
            # Cancelled or closed while this batch was being selected: its
            # release has run (or waits for this transaction), so reserve nothing.
            return {c.id: Refusal(f"campaign_{campaign.status}", f"the campaign was {campaign.status} during selection") for c in contacts}
        trigger = transactional_trigger(campaign)
        rerun_safe = campaign is not None and campaign.mode != "transactional"
        reach = policy.longest_window
        scopes = ledger.scopes_for(session, contacts, policy, start=at - reach, end=at + policy.longest_deferral + reach)
        refusals: dict[int, Refusal] = {}
        rows: list[dict[str, Any]] = []
        preempted: list[int] = []
        for contact in sorted(contacts, key=lambda c: c.id):
            scope = scopes[contact.id]
            if rerun_safe and any(e.campaign_id == campaign_id and e.invitation and e.at == at for e in scope.contact):
                continue
            block = first_block(policy, scope, kind=kind, invitation=True, at=at)
            if block is not None:
                giving_way = preemptible(policy, scope, kind=kind, at=at, now=now)
                if not giving_way:
                    refusals[contact.id] = self._refusal(policy, scope, kind=kind, contact_id=contact.id, reason=explain(block, contact_id=contact.id, now=now), rule=block.rule, at=at)
                    continue
                for entry in giving_way:
                    scope.remove(entry)
                    preempted.append(entry.id)  # type: ignore[arg-type]
            entry = Entry(None, contact.id, contact.account_id, kind, "invite", at, campaign_id, trigger, "reserved")
            scope.add(entry)
            rows.append(_row(entry, medium=None, policy=policy, now=now))
        if reserve:
            source = f"transactional trigger {trigger}" if trigger else f"campaign {campaign_id}"
            ledger.release_preempted(session, preempted, note=f"gave way to a higher-priority {kind.upper()} invitation by {source} on {at.date().isoformat()}", now=now)
            ledger.insert_touches(session, rows)
        return counted(refusals) if reserve else refusals

    @staticmethod
    def _refusal(policy: Policy, scope: Scope, *, kind: str, contact_id: int, reason: str, rule: str, at: datetime) -> Refusal:
        """Drop, or defer to the first moment every rule has room, if that is within the kind's limit."""
        settings = policy.kinds[kind]
        if settings.when_full != "defer":
            return Refusal(rule, reason, "drop", None)
        retry = earliest_room(policy, scope, kind=kind, invitation=True, at=at, until=at + timedelta(days=settings.max_defer_days))
        if retry is None:
            return Refusal(rule, f"{reason} (no room within the {settings.max_defer_days}-day defer limit)", "drop", None)
        return Refusal(rule, reason, "defer", retry)

    def record_touches(self, session: Session, touches: Sequence[Touch], *, now: datetime) -> dict[int, Refusal]:
        """Count each touch against the rules; record the allowed ones; the refused, by index.

        Set-based first (``ledger.record_where_quiet``): a planned message that is the only touch of
        its contact (and, under account rules, of its account) in the batch and has room under every
        rule is recorded by one statement. The rest are judged one by one, in order: an invite takes
        over its campaign's reservation; a dismissal has already happened, so it is recorded (it
        counts from now on) and never refused. A touch whose message key is already recorded (a
        batch run twice) is neither refused nor recorded again.
        """
        if not touches:
            return {}
        contacts = {t.contact.id: t.contact for t in touches}
        ledger.lock_scopes(session, contact_ids=list(contacts), account_ids=[c.account_id for c in contacts.values() if c.account_id is not None])
        policy = current_policy(session)
        quiet = self._alone(touches, policy)
        recorded = ledger.record_where_quiet(session, {
            "contact_id": [touches[i].contact.id for i in quiet], "account_id": [touches[i].contact.account_id for i in quiet],
            "kind": [touches[i].kind for i in quiet], "step": [touches[i].step for i in quiet], "medium": [touches[i].medium for i in quiet],
            "campaign_id": [touches[i].campaign_id for i in quiet], "trigger": [touches[i].trigger for i in quiet],
            "message_key": [touches[i].message_key for i in quiet], "at": [touches[i].at for i in quiet],
        }, policy=policy, now=now)
        rest = [i for i, t in enumerate(touches) if t.message_key is None or t.message_key not in recorded]
        return counted(self._judge(session, touches, rest, policy=policy, now=now)) if rest else {}

    @staticmethod
    def _alone(touches: Sequence[Touch], policy: Policy) -> list[int]:
        """Positions of the planned messages the set-based path may record: not an invitation, pre-notice
        (preemption) or dismissal, keyed, and the only touch of its contact — and, under account rules,
        of its account — in the batch (two of them would each take room the other's judgement must see)."""
        per_contact = Counter(t.contact.id for t in touches)
        # Asked about every touch's account_id, None included (never counted: 0).
        per_account: Counter[int | None] = Counter(t.contact.account_id for t in touches if t.contact.account_id is not None) if policy.has_account_rules else Counter()
        return [
            i for i, t in enumerate(touches)
            if t.step not in ("invite", "pre_notice", "dismissal") and t.message_key is not None and per_contact[t.contact.id] == 1
            and per_account[t.contact.account_id] <= 1
        ]

    def _judge(self, session: Session, touches: Sequence[Touch], positions: Sequence[int], *, policy: Policy, now: datetime) -> dict[int, Refusal]:
        """Judge ``touches`` at ``positions`` one by one against the ledger (see ``record_touches``); the refused, by index."""
        judged = [touches[i] for i in positions]
        known = ledger.known_keys(session, (t.message_key for t in judged))
        reach = policy.longest_window
        contacts = {t.contact.id: t.contact for t in judged}
        scopes = ledger.scopes_for(session, contacts.values(), policy, start=min(t.at for t in judged) - reach, end=max(t.at for t in judged) + reach)
        refusals: dict[int, Refusal] = {}
        rows: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        taken: set[int] = set()
        gave_way = self._gave_way(session, judged, scopes)
        for index in positions:
            touch = touches[index]
            if touch.message_key is not None and touch.message_key in known:
                continue
            scope = scopes[touch.contact.id]
            note = gave_way.get((touch.contact.id, touch.campaign_id or 0))
            if touch.step == "pre_notice" and note is not None:
                refusals[index] = Refusal(PREEMPTED, f"{PREEMPTED}: the invitation {note}", "drop", None)
                continue
            if touch.step == "invite" and touch.campaign_id is not None:
                reservation = self._reservation(scope, touch, taken)
                if reservation is not None and reservation.id is not None:
                    taken.add(reservation.id)
                    links.append({"entry_id": reservation.id, "message_key": touch.message_key, "medium": touch.medium})
                    continue
            if touch.step != "dismissal":
                block = first_block(policy, scope, kind=touch.kind, invitation=touch.step == "invite", at=touch.at)
                if block is not None:
                    refusals[index] = Refusal(block.rule, explain(block, contact_id=touch.contact.id, now=now), "drop", None)
                    continue
            entry = Entry(
                None, touch.contact.id, touch.contact.account_id, touch.kind, touch.step, touch.at, touch.campaign_id,
                touch.trigger, "sent" if touch.step == "dismissal" else "planned", touch.message_key,
            )
            scope.add(entry)
            rows.append(_row(entry, medium=touch.medium, policy=policy, now=now))
        ledger.link_reservations(session, links)
        ledger.insert_touches(session, rows)
        return refusals

    def held_invitations(self, session: Session, *, campaign_id: int, contacts: Sequence[Subject]) -> dict[int, int]:
        """Contacts whose invite takes over the campaign's one open reservation: its id, by contact id.

        Under the scopes' locks, so no preemption or release can take the
        reservation away before ``link_invitations`` (same transaction) does.
        A contact with none (released, preempted) or several (waves) goes
        through ``record_touches``, which judges it or picks the nearest.
        """
        if not contacts:
            return {}
        ledger.lock_scopes(session, contact_ids=[c.id for c in contacts], account_ids=[c.account_id for c in contacts if c.account_id is not None])
        return ledger.held_invitations(session, campaign_id=campaign_id, contact_ids=[c.id for c in contacts])

    def link_invitations(self, session: Session, *, links: Mapping[str, Sequence[Any]]) -> None:
        """The invites just written take over the reservations ``held_invitations`` found. One statement."""
        ledger.link_invitations(session, links)

    @staticmethod
    def _gave_way(session: Session, touches: Sequence[Touch], scopes: dict[int, Scope]) -> dict[tuple[int, int], str]:
        """Pre-notices whose campaign holds no invitation for the contact: was it preempted? One query, if any."""
        unheld = {
            (t.contact.id, t.campaign_id) for t in touches
            if t.step == "pre_notice" and t.campaign_id is not None
            and not any(e.campaign_id == t.campaign_id and e.invitation for e in scopes[t.contact.id].contact)
        }
        return ledger.preemption_notes(session, unheld)

    @staticmethod
    def _reservation(scope: Scope, touch: Touch, taken: set[int]) -> Entry | None:
        """This campaign's open reservation for the contact nearest the invite's planned time."""
        open_ = [
            e for e in scope.contact
            if e.campaign_id == touch.campaign_id and e.invitation and e.state == "reserved" and e.message_key is None and e.id not in taken
        ]
        return min(open_, key=lambda e: abs(e.at - touch.at), default=None)

    def settle(self, session: Session, *, message_keys: Sequence[str], sent: bool, now: datetime) -> None:
        """Mark the messages' touches sent, or release them (never sent). Idempotent."""
        keys = list(dict.fromkeys(message_keys))
        if not keys:
            return
        changed = ledger.mark_sent(session, keys, now) if sent else ledger.release_keys(session, keys, now)
        # Keys it left unchanged were settled before, or have no touch yet (read only those).
        found = changed | ledger.known_keys(session, [key for key in keys if key not in changed])
        # A transactional invite reserved its slot before its message existed:
        # the first settlement ties the two together.
        for key, contact_id, campaign_id, not_before, medium in ledger.unlinked_invites(session, set(keys) - found):
            reservations = ledger.open_reservations(session, contact_id=contact_id, campaign_id=campaign_id)
            if not reservations:
                continue
            due = [r for r in reservations if not_before is None or r.at <= not_before]
            chosen = due[-1] if due else reservations[0]
            assert chosen.id is not None
            ledger.attach_key(session, chosen.id, key, medium=medium, sent=sent, now=now)

    def release_campaign(self, session: Session, *, campaign_id: int, now: datetime) -> int:
        """Release every touch of the campaign whose message will never go out; how many."""
        released = ledger.release_unsent(session, campaign_id=campaign_id, now=now)
        log.info("campaign %s released %d fatigue reservations", campaign_id, released, extra={"campaign_id": campaign_id})
        return released
