"""Phone numbers: parsed with `phonenumbers`, stored as E.164, shown as (202) 555-0143."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat


class PhoneError(ValueError):
    """A phone the user typed that Parley cannot text; the message says why."""


_ALLOWED_US_INPUT = re.compile(r"^[\d\s().+-]+$", re.ASCII)
# Spreadsheets and pandas export a number column as floats: 2025550146.0 is 2025550146. (Written
# 2.025550146e+09, it stays refused: its "e" is no phone's.)
_FLOAT_WHOLE = re.compile(r"(\d+)\.0+", re.ASCII)


def plain(text: str) -> str:
    """A phone as typed or pasted, in ASCII: full-width forms as their ASCII twins (NFKC), another
    script's digits (Arabic-Indic) as 0-9, any dash as "-", any space as " ", and invisible marks
    (a copy's direction marks) dropped."""
    if text.isascii():
        return text
    chars = []
    for char in unicodedata.normalize("NFKC", text):
        kind = unicodedata.category(char)
        if kind == "Nd":
            chars.append(str(unicodedata.decimal(char)))
        elif kind == "Pd":
            chars.append("-")
        elif char.isspace():
            chars.append(" ")
        elif kind != "Cf":
            chars.append(char)
    return "".join(chars)


MAX_PHONE_DIGITS = 15  # E.164's longest, country code included


def parse_us_phone(text: str) -> str:
    """A US number typed by a person (10 digits, any punctuation, optional 1 or +1) as E.164."""
    raw = plain(text or "").strip()
    if not raw:
        raise PhoneError("Enter a phone number.")
    whole = _FLOAT_WHOLE.fullmatch(raw)
    if whole:
        raw = whole[1]
    if not _ALLOWED_US_INPUT.match(raw):
        raise PhoneError("Enter a 10-digit US phone number, like (202) 555-0143.")
    digits = re.sub(r"\D", "", raw, flags=re.ASCII)
    if len(digits) > MAX_PHONE_DIGITS:
        raise PhoneError("That is longer than any phone number; enter a 10-digit US phone number.")
    international = raw.startswith("+") and not raw.startswith("+1")
    # 00 dials abroad; ten digits starting 00 are no number at all (checked below).
    if international or (raw.startswith("00") and len(digits) > 10):
        raise PhoneError(
            "International numbers are not supported yet; enter a 10-digit US phone number."
        )
    if len(digits) > 11 or (len(digits) == 11 and not digits.startswith("1")):
        # Most often a digit too many; perhaps a number from abroad written without its +.
        raise PhoneError(
            f"That has {len(digits)} digits: a US phone number has 10, like (202) 555-0143. "
            "International numbers are not supported yet."
        )
    if len(digits) not in (10, 11):
        raise PhoneError("Enter a 10-digit US phone number, like (202) 555-0143.")
    # Most numbers typed are valid US numbers: checked straight from their last ten digits, without
    # parsing the text again. Anything else takes the path below, which finds the error to show.
    national = digits[-10:]
    if phonenumbers.is_valid_number_for_region(_us_number(national), "US"):
        return "+1" + national
    try:
        number = phonenumbers.parse(raw, "US")
    except NumberParseException:
        raise PhoneError("Enter a 10-digit US phone number, like (202) 555-0143.") from None
    if number.country_code != 1 or phonenumbers.region_code_for_number(number) not in (
        "US",
        None,
    ):
        raise PhoneError(
            "International numbers are not supported yet; enter a 10-digit US phone number."
        )
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number_for_region(
        number, "US"
    ):
        raise PhoneError("That is not a valid US phone number; check the area code and digits.")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _us_number(national: str) -> PhoneNumber:
    return PhoneNumber(country_code=1, national_number=int(national))


def parse_e164(text: str) -> str:
    """A number given in strict E.164 (+ and digits), as for reusable numbers."""
    raw = plain(text or "").strip()
    if not raw:
        raise PhoneError("Enter the phone number in E.164, like +12025550143.")
    if not re.fullmatch(r"\+[1-9]\d{6,14}", raw, flags=re.ASCII):
        raise PhoneError(f"{raw!r} is not an E.164 phone number (like +12025550143).")
    try:
        number = phonenumbers.parse(raw, None)
    except NumberParseException:
        raise PhoneError(f"{raw!r} is not an E.164 phone number (like +12025550143).") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"{raw!r} is not a valid phone number.")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


@lru_cache(maxsize=8192)  # a pure function of the text; every webhook asks twice
def normalise_provider_phone(text: str) -> str:
    """A phone as providers send it ("12025550143" or "+12025550143") as E.164."""
    raw = (text or "").strip()
    if not raw:
        raise PhoneError("missing phone number")
    candidate = raw if raw.startswith("+") else f"+{raw}"
    try:
        number = phonenumbers.parse(candidate, None)
    except NumberParseException:
        raise PhoneError(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise PhoneError(f"{raw!r} is not a phone number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def parse_any_phone(text: str) -> str:
    """A phone typed anywhere (US formats or E.164), for lookups, contact lists and the command
    line; another country's number may be written with spaces, as usual ("+44 20 7946 0958")."""
    raw = plain(text or "").strip()
    # 00 is how most of the world dials abroad (what + stands for): "0044 20 7946 0959".
    if raw.startswith("00") and len(re.sub(r"\D", "", raw)) > 10:
        raw = "+" + raw[2:].lstrip()
    if raw.startswith("+") and not raw.startswith("+1"):
        return parse_e164(re.sub(r"[ .-]", "", raw))
    return parse_us_phone(raw)


# North American numbers: area code and exchange each begin with 2-9.
_NANP_E164 = re.compile(r"\+1([2-9]\d\d)([2-9]\d\d)(\d{4})")


@lru_cache(maxsize=8192)  # a pure function of the phone, called for every row of every list
def format_phone(e164: str | None) -> str:
    """(202) 555-0143 for US numbers; international format otherwise."""
    if not e164:
        return ""
    nanp = _NANP_E164.fullmatch(e164)
    if nanp:  # what phonenumbers gives every such number, without parsing it (a list's rows)
        return f"({nanp[1]}) {nanp[2]}-{nanp[3]}"
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    if number.country_code == 1:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
