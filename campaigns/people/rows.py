"""Turning one incoming row (a CSV line or a JSON item) into clean column values.

Only the fields present in the row are returned, so an upsert changes exactly
what the row names and leaves every other column as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import lru_cache
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
_PREFIX_LENGTH = len(ATTRIBUTE_PREFIX)
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
    for key, name in _attribute_columns(tuple(raw)):
        given = True
        value = raw[key]
        if type(value) is str:
            value = value.strip()
            if value:
                found[name] = value
        elif not _blank(value):
            found[name] = value
    if len(found) > MAX_ATTRIBUTES:
        raise FieldError("attributes", f"has {len(found)} attributes; at most {MAX_ATTRIBUTES} per contact")
    if found and max(map(len, found)) > MAX_ATTRIBUTE_NAME:  # the common case without a generator per row
        long = next(name for name in found if len(name) > MAX_ATTRIBUTE_NAME)
        raise FieldError("attributes", f"the name {long[:20]!r}... is longer than {MAX_ATTRIBUTE_NAME} characters")
    return found if given else None


@lru_cache(maxsize=256)  # a CSV file has one set of columns; a million rows ask for it
def _attribute_columns(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The ``attr.<name>`` keys with their attribute names."""
    return tuple((key, key[_PREFIX_LENGTH:]) for key in keys if key.startswith(ATTRIBUTE_PREFIX))


def _as_date(value: Any, field: str) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else clean_date(str(value), field)


def _as_datetime(value: Any, field: str) -> datetime:
    return in_utc(value, field) if isinstance(value, datetime) else clean_datetime(str(value), field)


Cleaner = Callable[[Any], Any]


def _clean_row(raw: Mapping[str, Any], fields: Mapping[str, Cleaner], limits: Mapping[str, int]) -> tuple[dict[str, Any], list[FieldError]]:
    """Clean values and every error found in the row (all of them, not just the first).

    ``external_id`` is always required; other fields are cleaned only when the
    row names them (a blank cell means "no value"); attributes come last.
    A million CSV rows pass here: a text value is stripped once, and plain text
    fields (``limits``: their longest length) are checked inline, the rule of ``clean_text``.
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
            if type(value) is str:
                value = value.strip()
                if not value:
                    values[field] = None
                    continue
                limit = limits.get(field)
                if limit is not None:
                    if len(value) > limit:
                        errors.append(FieldError(field, f"longer than {limit} characters"))
                    else:
                        values[field] = value
                    continue
            elif _blank(value):
                values[field] = None
                continue
            try:
                values[field] = clean(value)
            except FieldError as exc:
                errors.append(exc)
    try:
        attributes = _attributes(raw)
        if attributes is not None:
            values["attributes"] = attributes
    except FieldError as exc:
        errors.append(exc)
    return values, errors


class _Text:
    """A plain text field: stripped, at most ``limit`` characters (``clean_text``)."""

    def __init__(self, field: str, limit: int) -> None:
        self.field, self.limit = field, limit

    def __call__(self, value: Any) -> str:
        return clean_text(str(value), self.field, self.limit)


def _limits(cleaners: Mapping[str, Cleaner]) -> dict[str, int]:
    return {field: clean.limit for field, clean in cleaners.items() if isinstance(clean, _Text)}


CONTACT_CLEANERS: dict[str, Cleaner] = {
    "account_external_id": _Text("account_external_id", 200),
    "name": _Text("name", 300),
    "email": lambda v: clean_email(str(v)),
    "phone": lambda v: clean_phone(str(v)),
    "role": _Text("role", 100),
    "locale": lambda v: clean_locale(str(v)),
    "timezone": lambda v: clean_timezone(str(v)),
    "last_seen_at": lambda v: _as_datetime(v, "last_seen_at"),
}
ACCOUNT_CLEANERS: dict[str, Cleaner] = {
    "name": _Text("name", 300),
    **{field: _Text(field, 100) for field in ("segment", "tier", "plan")},
    "lifecycle_stage": lambda v: clean_text(str(v), "lifecycle_stage", 100).lower(),
    "created_on": lambda v: _as_date(v, "created_on"),
    "renewal_on": lambda v: _as_date(v, "renewal_on"),
    "owner_email": lambda v: clean_email(str(v), "owner_email"),
}


CONTACT_LIMITS, ACCOUNT_LIMITS = _limits(CONTACT_CLEANERS), _limits(ACCOUNT_CLEANERS)


def clean_contact_row(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    values, errors = _clean_row(raw, CONTACT_CLEANERS, CONTACT_LIMITS)
    # A blank locale or timezone means "the default", not "nothing".
    for field, default in (("locale", "en"), ("timezone", "UTC")):
        if field in values and values[field] is None:
            values[field] = default
    return values, errors


def clean_account_row(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    return _clean_row(raw, ACCOUNT_CLEANERS, ACCOUNT_LIMITS)


def unknown_columns(columns: list[str], known: tuple[str, ...]) -> list[str]:
    return [c for c in columns if c not in known and not c.startswith(ATTRIBUTE_PREFIX)]
