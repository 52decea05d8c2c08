"""Phones typed by people: every US format gives one E.164 number, anything else a precise error."""

import random
import re

import phonenumbers
import pytest

from webapp.services.phones import PhoneError, format_phone, parse_any_phone, parse_us_phone


@pytest.mark.parametrize(
    "typed",
    ["2025550143", "202-555-0143", "(202) 555-0143", " 202.555.0143 ", "12025550143", "1 202 555 0143",
     "+12025550143", "+1 (202) 555-0143"],
)
def test_every_us_format_gives_one_number(typed):
    assert parse_us_phone(typed) == "+12025550143"


@pytest.mark.parametrize(
    "pasted",
    [
        "２０２５５５０１４３", "（２０２）５５５－０１４３", "٢٠٢٥٥٥٠١٤٣", "202–555–0143",
        "202\u2011555\u20110143", "\u202a(202) 555-0143\u202c", "+1\u00a0202\u00a0555\u00a00143",
    ],
)
def test_another_scripts_digits_dashes_and_marks_give_the_same_number(pasted):
    """Full-width or Arabic-Indic digits, en dashes, non-breaking hyphens and spaces, and the
    direction marks a copy brings: the same E.164 number, in ASCII (one conversation, one
    opt-out)."""
    assert parse_us_phone(pasted) == "+12025550143"
    assert parse_any_phone(pasted) == "+12025550143"


@pytest.mark.parametrize(
    ("written", "number"),
    [("0044 20 7946 0959", "+442079460959"), ("00442079460959", "+442079460959"),
     ("001 202 555 0143", "+12025550143")],
)  # fmt: skip
def test_a_list_or_lookup_reads_00_as_the_plus_of_a_number_from_abroad(written, number):
    """How most of the world writes a number with its country code; "+44 …" is taken, so is this."""
    assert parse_any_phone(written) == number


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("", "Enter a phone number."),
        ("call me", "Enter a 10-digit US phone number"),
        ("555-0143", "Enter a 10-digit US phone number"),
        ("1234567890", "not a valid US phone number"),  # no area code begins with 1
        ("+44 20 7123 4567", "International numbers are not supported yet"),
        # A digit too many: its count said, and that numbers from abroad are not taken either.
        ("22025550143", "That has 11 digits: a US phone number has 10"),
        ("(202) 555-01430", "That has 11 digits: a US phone number has 10"),
        ("+1 202 555 01430", "That has 12 digits: a US phone number has 10"),
        ("442071234567", "International numbers are not supported yet"),
        # Canada shares country code 1, but Parley texts US numbers only.
        ("(416) 555-0143", "International numbers are not supported yet"),
        ("+1 416 555 0143", "International numbers are not supported yet"),
        ("(202) 155-0143", "not a valid US phone number"),  # no exchange begins with 1
        ("12021550143", "not a valid US phone number"),
        ("000-000-0000", "not a valid US phone number"),  # not "international": 00 dials abroad
        ("0044 20 7123 4567", "International numbers are not supported yet"),
        ("2025550143" * 3, "longer than any phone number"),
    ],
)
def test_anything_else_is_refused_with_the_reason(typed, error):
    with pytest.raises(PhoneError, match=re.escape(error)):
        parse_us_phone(typed)


@pytest.mark.parametrize("exported", ["2025550143.0", "2025550143.00", "12025550143.0", " 2025550143.0 "])
def test_a_number_a_spreadsheet_wrote_as_a_float_is_its_digits(exported):
    """CSV exports (Excel, pandas) write a number column as floats: the ".0" is no digit."""
    assert parse_us_phone(exported) == "+12025550143"
    assert parse_any_phone(exported) == "+12025550143"


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("2025550143.5", "That has 11 digits"),  # any other decimal is no phone
        ("2025550143.01", "That has 12 digits"),
        ("202555014.0", "Enter a 10-digit US phone number"),  # a digit short, not 0 added
        ("22025550143.0", "That has 11 digits"),  # the count leaves out the ".0"
        ("2.025550143e9", "Enter a 10-digit US phone number"),  # no digit count it does not have
        ("2.025550143E+09", "Enter a 10-digit US phone number"),
    ],
)
def test_other_decimals_stay_refused(typed, error):
    with pytest.raises(PhoneError, match=re.escape(error)):
        parse_us_phone(typed)


def test_lookups_take_us_formats_and_international_e164():
    assert parse_any_phone("(202) 555-0143") == "+12025550143"
    assert parse_any_phone("+442071234567") == "+442071234567"
    assert parse_any_phone("+44 20 7123 4567") == "+442071234567"  # as it is usually written
    with pytest.raises(PhoneError):
        parse_any_phone("+4420")


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+12025550143", "(202) 555-0143"),
        ("+14165550143", "(416) 555-0143"),  # Canada: the same national format
        ("+442071234567", "+44 20 7123 4567"),
        ("", ""),
        (None, ""),
    ],
)
def test_phones_are_shown_in_their_national_or_international_format(e164, shown):
    assert format_phone(e164) == shown


def test_north_american_numbers_are_shown_as_phonenumbers_formats_them():
    generator = random.Random(8)
    for _ in range(2000):
        digits = "".join(generator.choice("0123456789") for _ in range(10))
        e164 = f"+1{digits}"
        expected = phonenumbers.format_number(
            phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.NATIONAL
        )
        assert format_phone(e164) == expected, e164
