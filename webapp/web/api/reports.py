"""The API's report: an office's figures for a range of days, as the Reports page counts them."""

from __future__ import annotations

from datetime import date

from flask import request
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response as Responses

from webapp.services import reports
from webapp.services.crm_api import ApiProblem
from webapp.web.api import bp, caller, spec, validation
from webapp.web.api.schemas import Problem

DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Text of a set pattern, not pydantic dates: those also take numbers (`to=0` would be 1970).
    from_: str | None = Field(
        default=None,
        alias="from",
        pattern=DAY,
        json_schema_extra={"format": "date"},
        description="First day (YYYY-MM-DD, in the office's time zone); default 29 days before `to`.",
    )
    to: str | None = Field(
        default=None,
        pattern=DAY,
        json_schema_extra={"format": "date"},
        description="Last day, included (YYYY-MM-DD); default today. Days to come count nothing.",
    )


class ReportSummary(BaseModel):
    """The office's figures over the days asked for; null where there is nothing to measure."""

    messages_sent: int = Field(description="Texts sent from the office's numbers (agents, API, bots).")
    messages_received: int = Field(description="Texts received from contacts.")
    conversations_started: int = Field(description="Conversations whose first text falls in the range.")
    contacts_replied: int = Field(
        description="Conversations texted in the range whose contact answered later in the range."
    )
    first_response_seconds_median: float | None = Field(
        description="Median time from a contact's message to an agent's answer, in seconds."
    )
    first_response_seconds_p90: float | None = Field(description="90th percentile of the same.")
    opt_outs: int = Field(description="The office's contacts who opted out in the range.")
    bot_answers: int = Field(description="Answers the bot sent.")
    bot_escalations: int = Field(description="Conversations the bot handed to agents.")


def _check_day(field: str, text: str | None) -> None:
    """A day of the calendar: the pattern lets 2026-02-30 through. Its form is wrong, as with any
    other value that is not a date, not the range it would make."""
    if text is None:
        return
    try:
        date.fromisoformat(text)
    except ValueError:
        message = f"{field} {validation.DAY}; {text} is not a day of the calendar"
        raise ApiProblem(
            422, "invalid-request", "Invalid request", f"{message}. Fix and send again.",
            errors=[{"field": field, "message": message}],
        ) from None  # fmt: skip


@bp.get("/reports/summary")
@spec.validate(
    query=SummaryQuery,
    resp=Responses(
        HTTP_200=ReportSummary, HTTP_400=Problem, HTTP_401=Problem, HTTP_413=Problem, HTTP_422=Problem,
        HTTP_429=Problem,
    ),  # fmt: skip
    tags=["reports"],
)
def report_summary():
    """An office's report

    The figures of the Reports page for the key's office, over the days from `from` to `to`
    (both included, at most 366 days), counted in the office's time zone
    (UTC when it has none).
    """
    query: SummaryQuery = request.context.query
    for field, text in (("from", query.from_), ("to", query.to)):
        _check_day(field, text)
    scope = reports.scope_for_office(caller().office_id)
    try:
        period = reports.parse_days(query.from_, query.to, scope.zone)
    except reports.ReportError as error:
        raise ApiProblem(
            422, "invalid-range", "Invalid range", error.message,
            errors=[{"field": error.field, "message": error.message}],
        ) from None  # fmt: skip
    report = reports.build(scope, period)
    return ReportSummary(
        messages_sent=report.messages_sent,
        messages_received=report.messages_received,
        conversations_started=report.conversations_started,
        contacts_replied=report.contacts_replied,
        first_response_seconds_median=report.response_median,
        first_response_seconds_p90=report.response_p90,
        opt_outs=report.opt_outs,
        bot_answers=report.bot_answers or 0,
        bot_escalations=report.bot_escalations or 0,
    )
