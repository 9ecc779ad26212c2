"""The E.164 fast path gives the full phonenumbers check's verdict and form, for every region."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from campaigns.people.fields import FieldError, clean_phone
from campaigns.people.phone_numbers import valid_e164


def full_check(text: str) -> str | FieldError:
    """``clean_phone`` as it was before the fast path: parse, validate, format (the oracle)."""
    text = text.strip()
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return FieldError("phone", f"{text!r} is not a phone number in international form, such as +14155550100")
    if not phonenumbers.is_valid_number(number):
        return FieldError("phone", f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def cleaned(text: str) -> str | FieldError:
    try:
        return clean_phone(text)
    except FieldError as exc:
        return exc


def same(text: str) -> bool:
    expected, got = full_check(text), cleaned(text)
    if isinstance(expected, FieldError):
        return isinstance(got, FieldError) and (got.field, got.reason) == (expected.field, expected.reason)
    return got == expected


def example_numbers() -> list[str]:
    """Every region's (and non-geographic code's) example number of every type, and the invalid example."""
    found: set[str] = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        numbers = [phonenumbers.example_number_for_type(region, kind) for kind in range(12)]
        numbers.append(phonenumbers.invalid_example_number(region))
        found.update(phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) for n in numbers if n is not None)
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return sorted(found)


def variants(e164: str) -> list[str]:
    """Near misses: each digit changed, digits dropped or added, a national prefix or zero after the country code."""
    digits = e164[1:]
    out = [e164, e164[:-1], e164[:-2], e164 + "0", e164 + "57"]
    out += [f"+{digits[:i]}{(int(d) + 1) % 10}{digits[i + 1:]}" for i, d in enumerate(digits)]
    out += [f"+{digits[:size]}{inserted}{digits[size:]}" for size in (1, 2, 3) for inserted in ("0", "1", "8")]
    return out


def test_every_example_number_and_its_near_misses_get_the_full_checks_answer() -> None:
    numbers = [variant for number in example_numbers() for variant in variants(number)]
    assert len(numbers) > 20_000
    assert [n for n in numbers if not same(n)] == []


def test_random_numbers_after_every_country_code_get_the_full_checks_answer() -> None:
    draw = random.Random(12)
    numbers = [f"+{code}{draw.randrange(1, 10)}{''.join(draw.choices('0123456789', k=length))}"
               for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for length in range(2, 16) for _ in range(3)]
    assert [n for n in numbers if not same(n)] == []


def test_the_fast_path_answers_only_valid_numbers_that_are_their_own_e164() -> None:
    """Random tails after every leading part of every example: what the fast path calls valid, parse agrees with."""
    draw = random.Random(5)
    numbers = [f"+{digits[:kept]}{''.join(draw.choices('0123456789', k=len(digits) - kept + extra))}"
               for digits in (number[1:] for number in example_numbers()) for kept in range(1, len(digits)) for extra in (-1, 0, 1)]
    decided = [n for n in numbers if valid_e164(n)]
    assert len(decided) > len(numbers) // 10  # it is not dead code
    assert [n for n in decided if full_check(n) != n] == []


def test_the_bench_numbers_and_common_shapes_take_the_fast_path() -> None:
    bench = [f"+1415555{i:04d}" for i in range(10_000)]  # bench/bench_import.py's phones
    common = ["+14165550123", "+442079460958", "+4930901820", "+33612345678", "+819012345678", "+61412345678", "+5511961234567"]
    assert all(valid_e164(n) and full_check(n) == n for n in bench + common)


@pytest.mark.parametrize("text", [
    " +14155550100 ", "+1 415 555 0100", "+1-415-555-0100", "+1 (415) 555-0100", "tel:+1-415-555-0100",
    "+14155550100 ext. 12", "+14155550100;ext=12", "+14155550100#", "+114155550100", "+390612345678",
    "+١٤١٥٥٥٥٠١٠٠", "+１４１５５５５０１００", "+", "+1", "+12", "+0123456789", "+999123456789", "14155550100",
    "+1415555010012345678901", "+800 1234 5678", "+882 3400 1234", "call me", "",
])
def test_other_shapes_get_the_full_checks_answer(text: str) -> None:
    assert same(text)
