"""What a request the API's models refused is told: for each field, a sentence naming it and what
it takes (a phone as people type it, a date as YYYY-MM-DD), instead of pydantic's wording, which
quotes regular expressions and speaks of "items after validation"."""

from __future__ import annotations

from typing import Any

US_PHONE = "must be a US phone number such as (617) 555-0123"
DAY = "must be a date as YYYY-MM-DD, such as 2026-09-01"

# What a field of a set form takes, said whenever its value does not have that form.
FORMS = {
    "from": "must be the E.164 form of one of your office's numbers, such as +12025550100",
    "to": US_PHONE,
    "phone": US_PHONE,
    "cursor": "must be the next_cursor of the previous page, unchanged",
    "Idempotency-Key": "must be one key, printable ASCII without spaces or commas, such as a UUID",
}
# The report's from and to are days, not phones.
REPORT_FORMS = {"from": DAY, "to": DAY}
REPORT_MODELS = {"SummaryQuery"}

FORM_ERRORS = {"string_pattern_mismatch", "string_too_short", "string_too_long", "too_short", "too_long"}


# Fields whose refusal has its own problem type, as when the server's own checks refuse them:
# a phone that is not written as one is as invalid as one that is no US number.
PHONE_FIELDS = {"to", "phone"}


def kind_of(model: str, field: str, item: dict[str, Any]) -> str:
    """The problem type of one refused value: the phone's, the text's and the cursor's own, else
    invalid-request."""
    kind = item.get("type", "")
    if model not in REPORT_MODELS and field in PHONE_FIELDS and kind in FORM_ERRORS:
        return "invalid-phone"
    if field == "text" and (kind in FORM_ERRORS or kind == "value_error"):
        return "invalid-text"
    if field == "cursor" and kind in FORM_ERRORS:
        return "invalid-cursor"
    return "invalid-request"


def _forms(model: str) -> dict[str, str]:
    return {**FORMS, **REPORT_FORMS} if model in REPORT_MODELS else FORMS


def explain(model: str, field: str, item: dict[str, Any]) -> str:
    """One refused value of `model` (a pydantic error item) as a sentence naming the field."""
    kind = item.get("type", "")
    ctx = item.get("ctx") or {}
    if field == "body":
        return "The body must be a JSON object with from, to and text"
    if kind == "missing":
        return f"{field} is required"
    if kind == "extra_forbidden":
        return f"{field} is not a field of this request; leave it out"
    form = _forms(model).get(field)
    # A key's length is the client's choice; a phone, a day or a cursor too long is just not one.
    if kind in ("string_too_long", "too_long") and "max_length" in ctx and (
        form is None or field == "Idempotency-Key"
    ):
        return f"{field} must be at most {ctx['max_length']:,} characters"
    if form is not None and kind in FORM_ERRORS:
        return f"{field} {form}"
    if kind in ("string_too_short", "too_short"):
        return f"{field} must not be empty"
    if kind == "string_type":
        return f"{field} must be a string" + (f": it {form}" if form else "")
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{field} must be a whole number"
    if kind == "greater_than_equal":
        return f"{field} must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"{field} must be at most {ctx.get('le')}"
    if kind == "value_error" and ctx.get("error") is not None:
        return f"{field} {ctx['error']}"
    return f"{field}: {item.get('msg', 'invalid')}"
