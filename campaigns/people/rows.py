"""Turning one incoming row (a CSV line or a JSON item) into clean column values.

Only the fields present in the row are returned, so an upsert changes exactly
what the row names and leaves every other column as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from campaigns.people.fields import (
    FieldError,
    clean_date,
    clean_datetime,
    clean_email,
    clean_external_id,
    clean_locale,
    clean_phone,
    clean_text,
    clean_timezone,
    in_utc,
)

ATTRIBUTE_PREFIX = "attr."
# Custom attributes are for segmenting (plan, region, seats), not for storing
# documents: a contact carries at most this many, with short names.
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_NAME = 64

CONTACT_FIELDS = (
    "external_id", "account_external_id", "name", "email", "phone", "role",
    "locale", "timezone", "last_seen_at", "attributes",
)
ACCOUNT_FIELDS = (
    "external_id", "name", "segment", "tier", "plan", "lifecycle_stage",
    "created_on", "renewal_on", "owner_email", "attributes",
)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _attributes(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """``attributes`` from JSON, or ``attr.<name>`` columns from CSV (blank cells skipped)."""
    found: dict[str, Any] = {}
    given = False
    if "attributes" in raw and raw["attributes"] is not None:
        if not isinstance(raw["attributes"], Mapping):
            raise FieldError("attributes", "must be an object of names to values")
        found.update(raw["attributes"])
        given = True
    for key, value in raw.items():
        if key.startswith(ATTRIBUTE_PREFIX):
            given = True
            if not _blank(value):
                found[key[len(ATTRIBUTE_PREFIX):]] = value.strip() if isinstance(value, str) else value
    if len(found) > MAX_ATTRIBUTES:
        raise FieldError("attributes", f"has {len(found)} attributes; at most {MAX_ATTRIBUTES} per contact")
    if long := next((name for name in found if len(name) > MAX_ATTRIBUTE_NAME), None):
        raise FieldError("attributes", f"the name {long[:20]!r}... is longer than {MAX_ATTRIBUTE_NAME} characters")
    return found if given else None


def _as_date(value: Any, field: str) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else clean_date(str(value), field)


def _as_datetime(value: Any, field: str) -> datetime:
    return in_utc(value, field) if isinstance(value, datetime) else clean_datetime(str(value), field)


Cleaner = Callable[[Any], Any]


def _clean_row(raw: Mapping[str, Any], fields: Mapping[str, Cleaner]) -> tuple[dict[str, Any], list[FieldError]]:
    """Clean values and every error found in the row (all of them, not just the first).

    ``external_id`` is always required; other fields are cleaned only when the
    row names them (a blank cell means "no value"); attributes come last.
    """
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    try:
        values["external_id"] = clean_external_id(str(raw.get("external_id") or ""))
    except FieldError as exc:
        errors.append(exc)
    for field, clean in fields.items():
        if field in raw:
            value = raw[field]
            try:  # _blank, inline: a million rows pass here
                values[field] = None if value is None or (isinstance(value, str) and not value.strip()) else clean(value)
            except FieldError as exc:
                errors.append(exc)
    try:
        attributes = _attributes(raw)
        if attributes is not None:
            values["attributes"] = attributes
    except FieldError as exc:
        errors.append(exc)
    return values, errors


def _text(field: str, limit: int) -> Cleaner:
    return lambda v: clean_text(str(v), field, limit)


CONTACT_CLEANERS: dict[str, Cleaner] = {
    "account_external_id": _text("account_external_id", 200),
    "name": _text("name", 300),
    "email": lambda v: clean_email(str(v)),
    "phone": lambda v: clean_phone(str(v)),
    "role": _text("role", 100),
    "locale": lambda v: clean_locale(str(v)),
    "timezone": lambda v: clean_timezone(str(v)),
    "last_seen_at": lambda v: _as_datetime(v, "last_seen_at"),
}
ACCOUNT_CLEANERS: dict[str, Cleaner] = {
    "name": _text("name", 300),
    **{field: _text(field, 100) for field in ("segment", "tier", "plan")},
    "lifecycle_stage": lambda v: clean_text(str(v), "lifecycle_stage", 100).lower(),
    "created_on": lambda v: _as_date(v, "created_on"),
    "renewal_on": lambda v: _as_date(v, "renewal_on"),
    "owner_email": lambda v: clean_email(str(v), "owner_email"),
}


def clean_contact_row(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    values, errors = _clean_row(raw, CONTACT_CLEANERS)
    # A blank locale or timezone means "the default", not "nothing".
    for field, default in (("locale", "en"), ("timezone", "UTC")):
        if field in values and values[field] is None:
            values[field] = default
    return values, errors


def clean_account_row(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    return _clean_row(raw, ACCOUNT_CLEANERS)


def unknown_columns(columns: list[str], known: tuple[str, ...]) -> list[str]:
    return [c for c in columns if c not in known and not c.startswith(ATTRIBUTE_PREFIX)]
