"""Who a campaign is for: a filter over account and contact fields, or an explicit list.

    {"filter": {"segment": ["enterprise"], "tier": ["gold"], "role": ["admin"],
                "renewal_within_days": 90, "attributes": {"region": "emea"}}}
    {"contact_ids": [12, 13]}   or   {"contact_external_ids": ["u-1", "u-2"]}

The same filter shape names the campaign's custom exclusions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, select

from campaigns.db import ID_MAX
from campaigns.people.fields import FieldError
from campaigns.people.models import Account, Contact

ACCOUNT_FIELDS = ("segment", "tier", "plan", "lifecycle_stage")
CONTACT_FIELDS = ("role", "locale", "timezone")
FILTER_KEYS = (*ACCOUNT_FIELDS, *CONTACT_FIELDS, "renewal_within_days", "attributes", "account_attributes", "account_external_ids")


class AudienceError(FieldError):
    """A bad audience setting; names the field."""


def check_filter(spec: Any, field: str) -> dict[str, Any]:
    if not isinstance(spec, dict) or not spec:
        raise AudienceError(field, "must be an object with at least one condition, e.g. {\"segment\": [\"enterprise\"]}")
    for key, value in spec.items():
        where = f"{field}.{key}"
        if key not in FILTER_KEYS:
            raise AudienceError(where, f"unknown condition; conditions are {', '.join(FILTER_KEYS)}")
        if key in (*ACCOUNT_FIELDS, *CONTACT_FIELDS, "account_external_ids"):
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise AudienceError(where, "must be a non-empty list of strings")
        elif key == "renewal_within_days":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 3650:
                raise AudienceError(where, "must be a whole number of days from 0 to 3650")
        elif not isinstance(value, dict) or not value:
            raise AudienceError(where, "must be an object of attribute names to a value or a list of values")
    return spec


def check_audience(audience: Any) -> dict[str, Any]:
    """The audience, checked; raises ``AudienceError`` naming the bad field."""
    if not isinstance(audience, dict) or not audience:
        raise AudienceError("audience", "is empty; give a filter or a list of contacts")
    given = [k for k in ("filter", "contact_ids", "contact_external_ids") if k in audience]
    if len(given) != 1 or len(audience) != 1:
        raise AudienceError("audience", "give exactly one of filter, contact_ids or contact_external_ids")
    key = given[0]
    value = audience[key]
    if key == "filter":
        check_filter(value, "audience.filter")
    elif not isinstance(value, list) or not value:
        raise AudienceError(f"audience.{key}", "is empty; list at least one contact")
    elif key == "contact_ids" and not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= ID_MAX for v in value):
        raise AudienceError("audience.contact_ids", "must be a list of contact ids (whole numbers from 1 to 2^31-1)")
    elif key == "contact_external_ids" and not all(isinstance(v, str) for v in value):
        raise AudienceError("audience.contact_external_ids", "must be a list of external ids (strings)")
    return audience


def _attribute_condition(column: Any, name: str, value: Any) -> Any:
    extracted = column[name].as_string()
    values = value if isinstance(value, list) else [value]
    return extracted.in_([str(v) for v in values])


def filter_condition(spec: dict[str, Any], now: datetime) -> Any:
    """A SQL condition over ``contacts`` joined with ``accounts``."""
    conditions = []
    for key in ACCOUNT_FIELDS:
        if key in spec:
            conditions.append(getattr(Account, key).in_(spec[key]))
    for key in CONTACT_FIELDS:
        if key in spec:
            conditions.append(getattr(Contact, key).in_(spec[key]))
    if "account_external_ids" in spec:
        conditions.append(Account.external_id.in_(spec["account_external_ids"]))
    if "renewal_within_days" in spec:
        today = now.date()
        conditions.append(and_(Account.renewal_on >= today, Account.renewal_on <= today + timedelta(days=spec["renewal_within_days"])))
    for name, value in spec.get("attributes", {}).items():
        conditions.append(_attribute_condition(Contact.attributes, name, value))
    for name, value in spec.get("account_attributes", {}).items():
        conditions.append(_attribute_condition(Account.attributes, name, value))
    return and_(*conditions)


def audience_query(audience: dict[str, Any], now: datetime) -> Select[Contact]:
    """Every living contact in the audience, with its account, in id order."""
    query = select(Contact).outerjoin(Account, Contact.account_id == Account.id).where(Contact.erased_at.is_(None))
    if "filter" in audience:
        query = query.where(filter_condition(audience["filter"], now))
    elif "contact_ids" in audience:
        query = query.where(Contact.id.in_(audience["contact_ids"]))
    else:
        query = query.where(Contact.external_id.in_(audience["contact_external_ids"]))
    return query.order_by(Contact.id)


def matching_ids(session: Any, spec: dict[str, Any], contact_ids: list[int], now: datetime) -> set[int]:
    """Which of ``contact_ids`` match a filter (used for custom exclusions)."""
    query = (
        select(Contact.id).outerjoin(Account, Contact.account_id == Account.id)
        .where(Contact.id.in_(contact_ids)).where(filter_condition(spec, now))
    )
    return set(session.scalars(query))
