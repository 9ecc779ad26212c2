"""Checks for the contact and account fields that arrive from CSV files and JSON.

Each check returns the normalised value or raises ``FieldError`` with a sentence
a person understands. Used by the JSON API and the CSV import alike, so both
accept and refuse exactly the same values.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from campaigns.people.phone_numbers import valid_e164

# ISO 639-1 language codes; a locale is one of these, optionally with an ISO 3166 region.
_LANGUAGES = frozenset(
    ["aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bh", "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de", "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz", "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln", "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti", "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo", "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu"]
)
_LOCALE = re.compile(r"^(?P<lang>[A-Za-z]{2})(?:[-_](?P<region>[A-Za-z]{2}|\d{3}))?$")


class FieldError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


# A plain ASCII dot-atom local part (RFC 5322), which nearly every address has.
_PLAIN_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


@lru_cache(maxsize=65_536)
def _clean_domain(domain: str) -> str | EmailNotValidError:
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError as exc:
        return exc


def clean_email(value: str, field: str = "email") -> str:
    """A valid address, its domain normalised as email_validator does.

    Imports check millions of addresses: a plain local part is checked here and
    each distinct domain once (cached), which gives email_validator's answer at
    a fraction of its cost; anything unusual goes through email_validator whole.
    """
    text = value.strip()
    local, at, domain = text.rpartition("@")
    if at and len(local) <= 64 and len(text) <= 254 and _PLAIN_LOCAL.match(local):
        checked = _clean_domain(domain)
        if isinstance(checked, EmailNotValidError):
            raise FieldError(field, f"not a valid email address ({checked})")
        return f"{local}@{checked}"
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise FieldError(field, f"not a valid email address ({exc})") from None


def clean_phone(value: str, field: str = "phone") -> str:
    """E.164, e.g. +14155550100. A number without a country code is refused, not guessed."""
    text = value.strip()
    if valid_e164(text):  # the full check's answer, without its cost, for numbers already in E.164
        return text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise FieldError(
            field, f"{text!r} is not a phone number in international form, such as +14155550100"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError(field, f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)  # a few hundred distinct values in any file; imports check millions
def clean_timezone(value: str, field: str = "timezone") -> str:
    text = value.strip()
    if text not in _timezones():
        raise FieldError(field, f"unknown timezone {text!r}; use an IANA name such as Europe/Berlin")
    return text


@lru_cache(maxsize=4096)
def clean_locale(value: str, field: str = "locale") -> str:
    """A BCP 47 language tag with an optional region, normalised as ``de`` or ``de-AT``."""
    match = _LOCALE.match(value.strip())
    if not match or match["lang"].lower() not in _LANGUAGES:
        raise FieldError(field, f"unknown locale {value.strip()!r}; use a language code such as en or de-AT")
    region = match["region"]
    if region and region.isalpha() and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise FieldError(field, f"unknown region in locale {value.strip()!r}")
    return match["lang"].lower() + (f"-{region.upper()}" if region else "")


def clean_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise FieldError(field, f"{value.strip()!r} is not a date in the form YYYY-MM-DD") from None


def clean_datetime(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))  # noqa: FURB162 -- 3.11 refuses a date alone with "Z"
    except ValueError:
        raise FieldError(field, f"{value.strip()!r} is not an ISO 8601 date and time") from None
    return in_utc(parsed, field)


def in_utc(moment: datetime, field: str) -> datetime:
    """``moment`` in UTC (naive means UTC); ``FieldError`` when UTC cannot hold it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is past the last representable moment in UTC
        raise FieldError(field, f"{moment.isoformat()!r} is outside the years 1 to 9999 once converted to UTC") from None


def clean_text(value: str, field: str, max_length: int) -> str:
    text = value.strip()
    if len(text) > max_length:
        raise FieldError(field, f"longer than {max_length} characters")
    return text


def clean_external_id(value: str, field: str = "external_id") -> str:
    text = clean_text(value, field, 200)
    if not text:
        raise FieldError(field, "is required")
    if text.startswith("erased:"):
        raise FieldError(field, "may not start with 'erased:' (reserved for erased contacts)")
    return text
