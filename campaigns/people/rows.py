"""Turning one incoming row (a CSV line or a JSON item) into clean column values.

Only the fields present in the row are returned, so an upsert changes exactly
what the row names and leaves every other column as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def _as_date(value: Any, field: str) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else clean_date(str(value), field)


def _as_datetime(value: Any, field: str) -> datetime:
    return in_utc(value, field) if isinstance(value, datetime) else clean_datetime(str(value), field)


Cleaner = Callable[[Any], Any]


class RowCleaner:
    """Cleans rows that share one list of keys: the lines of a CSV file under its header,
    or one JSON object (``clean_contact_row``). The keys are looked at once, here.

    A row gives clean values and every error found in it (all of them, not just
    the first). ``external_id`` is always required; other fields are cleaned only
    when the keys name them (a blank value means "no value"), in the order of
    ``fields``; attributes (``attributes`` from JSON, ``attr.<name>`` columns from
    CSV, blank cells skipped) come last. A million CSV rows pass here: a text value
    is stripped once, and plain text fields (``limits``: their longest length) are
    checked inline, the rule of ``clean_text``.
    """

    def __init__(self, keys: tuple[str, ...], fields: Mapping[str, Cleaner], limits: Mapping[str, int],
                 defaults: tuple[tuple[str, str], ...] = ()) -> None:
        position = {key: index for index, key in enumerate(keys)}
        self.external_id = position.get("external_id")
        self.plan = [(position[field], field, limits.get(field), clean) for field, clean in fields.items() if field in position]
        self.document = position.get("attributes")
        self.attributes = [(index, key[_PREFIX_LENGTH:]) for index, key in enumerate(keys) if key.startswith(ATTRIBUTE_PREFIX)]
        # A blank locale or timezone means "the default", not "nothing".
        self.defaults = [(field, default) for field, default in defaults if field in position]

    def given_external_id(self, row: Sequence[Any]) -> str | None:
        """The row's external id as given, for an error report."""
        return (str(row[self.external_id] or "") or None) if self.external_id is not None else None

    def __call__(self, row: Sequence[Any]) -> tuple[dict[str, Any], list[FieldError]]:
        values: dict[str, Any] = {}
        errors: list[FieldError] = []
        try:
            values["external_id"] = clean_external_id(str((row[self.external_id] if self.external_id is not None else None) or ""))
        except FieldError as exc:
            errors.append(exc)
        for index, field, limit, clean in self.plan:
            value = row[index]
            if type(value) is str:
                value = value.strip()
                if not value:
                    values[field] = None
                    continue
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
        if self.document is not None or self.attributes:
            try:
                attributes = self._attributes(row)
                if attributes is not None:
                    values["attributes"] = attributes
            except FieldError as exc:
                errors.append(exc)
        for field, default in self.defaults:
            if values.get(field, default) is None:
                values[field] = default
        return values, errors

    def _attributes(self, row: Sequence[Any]) -> dict[str, Any] | None:
        found: dict[str, Any] = {}
        given = bool(self.attributes)
        if self.document is not None and row[self.document] is not None:
            if not isinstance(row[self.document], Mapping):
                raise FieldError("attributes", "must be an object of names to values")
            found.update(row[self.document])
            given = True
        for index, name in self.attributes:
            value = row[index]
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


@lru_cache(maxsize=256)  # a CSV file has one set of columns; JSON objects a few
def contact_cleaner(keys: tuple[str, ...]) -> RowCleaner:
    return RowCleaner(keys, CONTACT_CLEANERS, CONTACT_LIMITS, (("locale", "en"), ("timezone", "UTC")))


@lru_cache(maxsize=256)
def account_cleaner(keys: tuple[str, ...]) -> RowCleaner:
    return RowCleaner(keys, ACCOUNT_CLEANERS, ACCOUNT_LIMITS)


def clean_contact_row(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    return contact_cleaner(tuple(raw))(tuple(raw.values()))


def clean_account_row(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    return account_cleaner(tuple(raw))(tuple(raw.values()))


def unknown_columns(columns: list[str], known: tuple[str, ...]) -> list[str]:
    return [c for c in columns if c not in known and not c.startswith(ATTRIBUTE_PREFIX)]
