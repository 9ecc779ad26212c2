"""A fast answer for phone numbers already written in E.164, the same as phonenumbers' own.

``phonenumbers.parse`` + ``is_valid_number`` cost 20-60 µs a number in Python
(a +1 number is tried against up to 25 NANPA regions, pattern by pattern), and an
import checks hundreds of thousands of them. Most arrive as ``+<digits>``. For
those, this module decides validity from the same metadata with one or two
compiled patterns per region and number length, and answers only when it can
say "valid, and E.164 is the text itself"; anything else (another shape, a
national prefix or leading zero that parse would rewrite, an invalid number) is
left to the full check, which also words the error. Equivalence with the full
check is pinned by ``tests/campaigns/test_phone_numbers.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, REGION_CODE_FOR_NON_GEO_ENTITY, PhoneMetadata

# "+", a country code that cannot start with 0, then ASCII digits only: parse
# would turn other digits (Arabic-Indic, full-width) into ASCII, so its E.164
# would not be the text. parse refuses a national number above 17 digits.
_E164 = re.compile(r"\+[1-9][0-9]{2,19}")
_MIN_NATIONAL, _MAX_NATIONAL = 2, 17

Validator = Callable[[str], bool]


def valid_e164(text: str) -> bool:
    """True only when ``phonenumbers.parse(text, None)`` is valid and formats back to ``text`` in E.164.

    False means "not decided here", never "invalid": the caller runs the full check.
    """
    if not _E164.fullmatch(text):
        return False
    digits = text[1:]
    for size in (1, 2, 3):  # parse takes the shortest known country code
        if int(digits[:size]) in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False
    rules = _country(int(digits[:size]))
    if rules is None:
        return False
    national = digits[size:]
    national_prefix, regions = rules
    if not _MIN_NATIONAL <= len(national) <= _MAX_NATIONAL or national[0] == "0":
        return False  # too short or long, or leading zeros that parse keeps apart (Italy)
    if national_prefix is not None and national_prefix.match(national):
        return False  # parse may strip it as a national prefix and return another number
    if len(regions) == 1:
        return regions[0][1](national)
    # Several regions share the code (NANPA, +7, +44 ...): the region is the first
    # whose leading digits match or, without leading digits, that takes the number.
    for leading, validator in regions:
        if leading is None:
            if validator(national):
                return True
        elif leading.match(national):
            return validator(national)
    return False


@cache
def _country(country_code: int) -> tuple[re.Pattern[str] | None, tuple[tuple[re.Pattern[str] | None, Validator], ...]] | None:
    """The national prefix parse strips, and (leading digits, validator) per region, in phonenumbers' order."""
    region_codes = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not region_codes:
        return None
    main = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region_codes[0])
    if main is None:
        return None
    prefix = main.national_prefix_for_parsing
    regions = []
    for region_code in region_codes:
        if region_code == REGION_CODE_FOR_NON_GEO_ENTITY:
            metadata = PhoneMetadata.metadata_for_nongeo_region(country_code, None)
        else:
            metadata = PhoneMetadata.metadata_for_region(region_code.upper(), None)
        if metadata is None:
            if len(region_codes) == 1:
                return None
            continue  # region_code_for_number skips it too
        if metadata.country_code != country_code:
            return None  # not a case worked out here: the full check decides
        leading = re.compile(metadata.leading_digits) if metadata.leading_digits is not None and len(region_codes) > 1 else None
        regions.append((leading, _validator(metadata)))
    return (re.compile(prefix) if prefix else None), tuple(regions)


def _allows(desc: object, length: int) -> bool:
    lengths = getattr(desc, "possible_length", None) or ()
    return not lengths or length in lengths


def _validator(metadata: PhoneMetadata) -> Validator:
    """``_number_type_helper(number, metadata) != UNKNOWN`` as two patterns per length.

    That helper answers a type when the general pattern matches and then any of the
    type patterns does (mobile only when it differs from fixed line), each pattern
    skipped when its possible lengths leave the number's length out. An alternation
    of those patterns matches the whole number exactly when one of them does.
    """
    general = metadata.general_desc
    types = [metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip, metadata.personal_number,
             metadata.pager, metadata.uan, metadata.voicemail, metadata.fixed_line]
    if not metadata.same_mobile_and_fixed_line_pattern:
        types.append(metadata.mobile)
    by_length: dict[int, tuple[re.Pattern[str], re.Pattern[str]] | None] = {}  # compiled when a length first comes

    def checks(length: int) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
        if general is None or not general.national_number_pattern or not _allows(general, length):
            return None
        patterns = [d.national_number_pattern for d in types if d is not None and d.national_number_pattern and _allows(d, length)]
        return (re.compile(general.national_number_pattern), re.compile("|".join(f"(?:{p})" for p in patterns))) if patterns else None

    def valid(national: str) -> bool:
        length = len(national)
        found = by_length[length] if length in by_length else by_length.setdefault(length, checks(length))
        return found is not None and found[0].fullmatch(national) is not None and found[1].fullmatch(national) is not None

    return valid
