"""Program criteria: who is left out of a campaign, and why (before the fatigue budget).

Each exclusion has a rule code (for counts) and a sentence (for the episode).
The order is fixed: unreachable, account too new, churned, custom exclusions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, not_, or_
from sqlalchemy.orm import Session

from campaigns.people.models import Account, Contact
from campaigns.programs.audience import AudienceError, check_filter, filter_condition, matching_ids
from campaigns.programs.reach import Reach, reachable_condition

DEFAULT_EXCLUSIONS: dict[str, Any] = {"min_account_age_days": 30, "exclude_churned": True, "custom": []}


@dataclass(frozen=True)
class Exclusion:
    rule: str
    reason: str


def check_exclusions(value: Any) -> dict[str, Any]:
    spec = {**DEFAULT_EXCLUSIONS, **(value or {})}
    unknown = set(spec) - set(DEFAULT_EXCLUSIONS)
    if unknown:
        raise AudienceError(f"exclusions.{sorted(unknown)[0]}", "unknown; use min_account_age_days, exclude_churned, custom")
    age = spec["min_account_age_days"]
    if not isinstance(age, int) or isinstance(age, bool) or age < 0:
        raise AudienceError("exclusions.min_account_age_days", "must be a whole number of days, 0 or more")
    if not isinstance(spec["exclude_churned"], bool):
        raise AudienceError("exclusions.exclude_churned", "must be true or false")
    if not isinstance(spec["custom"], list):
        raise AudienceError("exclusions.custom", "must be a list of {\"name\": ..., \"filter\": {...}}")
    for index, custom in enumerate(spec["custom"]):
        where = f"exclusions.custom[{index}]"
        if not isinstance(custom, dict) or not isinstance(custom.get("name"), str) or not custom["name"].strip():
            raise AudienceError(f"{where}.name", "each custom exclusion needs a name")
        check_filter(custom.get("filter"), f"{where}.filter")
    return spec


def program_exclusions(
    session: Session,
    *,
    contacts: Sequence[Contact],
    exclusions: dict[str, Any],
    reach: Reach,
    now: datetime,
) -> dict[int, Exclusion]:
    """The exclusion of every contact in ``contacts`` that is left out, by contact id."""
    found: dict[int, Exclusion] = {}
    min_age = timedelta(days=exclusions["min_account_age_days"])
    for contact in contacts:
        media = reach.media(contact)
        account = contact.account
        if not media:
            found[contact.id] = Exclusion("unreachable", f"unreachable on every allowed channel ({reach.why_not(contact)})")
        elif account is not None and account.created_on is not None and now.date() - account.created_on < min_age:
            found[contact.id] = Exclusion(
                "account_too_new",
                f"account created {account.created_on.isoformat()}, less than {min_age.days} days ago",
            )
        elif exclusions["exclude_churned"] and account is not None and (account.lifecycle_stage or "") == "churned":
            found[contact.id] = Exclusion("churned", "the account has churned")
    remaining = [c.id for c in contacts if c.id not in found]
    for custom in exclusions["custom"]:
        if not remaining:
            break
        hit = matching_ids(session, custom["filter"], remaining, now)
        for contact_id in hit:
            found[contact_id] = Exclusion(f"custom:{custom['name']}", f"matches the custom exclusion {custom['name']!r}")
        remaining = [i for i in remaining if i not in hit]
    return found


def included_condition(exclusions: dict[str, Any], *, allowed: Sequence[str], available: set[str], now: datetime) -> Any:
    """SQL over ``contacts`` outer-joined with ``accounts``: true only when ``program_exclusions`` would leave
    the contact in. NULL where it cannot tell (a custom filter over a missing attribute): such contacts are
    simply judged by ``program_exclusions``, so this may be stricter than it, never looser."""
    oldest = now.date() - timedelta(days=exclusions["min_account_age_days"])
    conditions = [
        reachable_condition(allowed, available, now),
        or_(Account.id.is_(None), Account.created_on.is_(None), Account.created_on <= oldest),
    ]
    if exclusions["exclude_churned"]:
        conditions.append(or_(Account.id.is_(None), func.coalesce(Account.lifecycle_stage, "") != "churned"))
    conditions += [not_(filter_condition(custom["filter"], now)) for custom in exclusions["custom"]]
    return and_(*conditions)
