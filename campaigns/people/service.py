"""Reading, changing and erasing contacts and accounts; the CS team."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from campaigns.paging import Page, page_by_id
from campaigns.people.fields import FieldError, clean_email, clean_text
from campaigns.people.models import Account, Contact, TeamMember
from campaigns.people.upsert import upsert_accounts, upsert_contacts


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class ContactFilter:
    account_external_id: str | None = None
    segment: str | None = None
    tier: str | None = None
    plan: str | None = None
    lifecycle_stage: str | None = None
    role: str | None = None
    locale: str | None = None
    email: str | None = None
    search: str | None = None  # part of name or email
    renewal_before: date | None = None
    updated_since: datetime | None = None


def _contact_query(filters: ContactFilter) -> Select[Contact]:
    query = select(Contact).where(Contact.erased_at.is_(None))
    account_filters = {
        "segment": filters.segment, "tier": filters.tier, "plan": filters.plan,
        "lifecycle_stage": filters.lifecycle_stage, "external_id": filters.account_external_id,
    }
    wanted = {k: v for k, v in account_filters.items() if v is not None}
    if wanted or filters.renewal_before:
        query = query.join(Account, Contact.account_id == Account.id)
        for column, value in wanted.items():
            query = query.where(getattr(Account, column) == value)
        if filters.renewal_before:
            query = query.where(Account.renewal_on <= filters.renewal_before)
    if filters.role is not None:
        query = query.where(Contact.role == filters.role)
    if filters.locale is not None:
        query = query.where(Contact.locale == filters.locale)
    if filters.email is not None:
        query = query.where(func.lower(Contact.email) == filters.email.strip().lower())
    if filters.search:
        # The search is literal text: % and _ are escaped, or "q=%" would match every contact.
        escaped = filters.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(or_(Contact.name.ilike(pattern, escape="\\"), Contact.email.ilike(pattern, escape="\\")))
    if filters.updated_since is not None:
        query = query.where(Contact.updated_at >= filters.updated_since)
    return query


def list_contacts(session: Session, *, filters: ContactFilter, cursor: str | None, limit: int) -> Page:
    return page_by_id(session, _contact_query(filters), Contact.id, cursor=cursor, limit=limit)


def get_contact(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.erased_at is not None:
        raise NotFound(f"no contact with id {contact_id}")
    return contact


def patch_contact(session: Session, *, contact_id: int, changes: dict[str, Any], now: datetime) -> Contact:
    """Apply the given fields through the same checks as an import; raises FieldError."""
    contact = get_contact(session, contact_id)
    raw = {"external_id": contact.external_id, **changes}
    result = upsert_contacts(session, [(1, raw)], now=now)
    if result.errors:
        error = result.errors[0]
        raise FieldError(error.field, error.reason)
    session.refresh(contact)
    return contact


def erase_contact(session: Session, *, contact_id: int, now: datetime) -> None:
    """Erase the person's data (name, email, phone, attributes) and keep the row.

    Responses and counts stay attached to the row and its account, so reports
    keep their anonymous aggregates; the contact no longer appears anywhere.
    """
    contact = get_contact(session, contact_id)
    contact.external_id = f"erased:{contact.id}"
    contact.name = None
    contact.email = None
    contact.phone = None
    contact.attributes = {}
    contact.last_seen_at = None
    contact.erased_at = now
    contact.updated_at = now


def list_accounts(session: Session, *, cursor: str | None, limit: int, segment: str | None = None, tier: str | None = None) -> Page:
    query = select(Account)
    if segment is not None:
        query = query.where(Account.segment == segment)
    if tier is not None:
        query = query.where(Account.tier == tier)
    return page_by_id(session, query, Account.id, cursor=cursor, limit=limit)


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account with id {account_id}")
    return account


def upsert_team_member(session: Session, *, name: str, email: str, slack_handle: str | None, now: datetime) -> TeamMember:
    email = clean_email(email)
    member = session.scalar(select(TeamMember).where(TeamMember.email == email))
    if member is None:
        member = TeamMember(email=email, created_at=now, name="")
        session.add(member)
    member.name = clean_text(name, "name", 200)
    member.slack_handle = clean_text(slack_handle, "slack_handle", 100) if slack_handle else None
    member.active = True
    session.flush()
    return member


def list_team(session: Session) -> list[TeamMember]:
    return list(session.scalars(select(TeamMember).order_by(TeamMember.id)))


__all__ = [
    "ContactFilter", "NotFound", "Page", "erase_contact", "get_account", "get_contact",
    "list_accounts", "list_contacts", "list_team", "patch_contact", "upsert_accounts",
    "upsert_contacts", "upsert_team_member",
]
