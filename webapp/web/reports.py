"""Reports: the page of figures and charts (/reports) and the CSV of each of its tables.

Admins report on their offices (narrowed to an office, a number or an agent); anyone else sees
their own figures. The query string carries the range and the filters, so a report is a link.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, render_template, request, url_for

from webapp.services import reports
from webapp.services.spreadsheets import csv_text
from webapp.web import charts, signed_in
from webapp.web.errors import error_page

bp = Blueprint("reports", __name__, url_prefix="/reports")

FILTERS = ("range", "from", "to", "office", "number", "agent")


@dataclass(frozen=True)
class Table:
    """A table of the page: shown under its chart, and downloadable as CSV (raw numbers, seconds)."""

    name: str
    title: str
    header: tuple[str, ...]
    rows: list[tuple]  # as shown
    csv_header: tuple[str, ...]
    csv_rows: list[tuple]


def _load() -> tuple[reports.Report | None, reports.Scope | None, reports.ReportError | None]:
    args = request.args
    try:
        scope = reports.scope_for(signed_in(), args.get("office"), args.get("number"), args.get("agent"))
        period = reports.parse_range(args.get("range"), args.get("from"), args.get("to"), scope.zone)
    except reports.ReportError as error:
        return None, None, error
    return reports.build(scope, period), scope, None


@bp.get("")
def index():
    report, scope, error = _load()
    context: dict = {"error": error, "report": report, "scope": scope, "args": request.args}
    if error is not None:
        # The form stays as typed, with the reason; no figures (nothing of another office either).
        try:
            context["scope"] = reports.scope_for(signed_in())
        except reports.ReportError:
            context["scope"] = None
        return render_template("reports/index.html", **context), 422
    tables = build_tables(report)
    days = report.range.days
    context.update(
        tables=tables,
        csv_links={name: _csv_url(name) for name in tables},
        messages_chart=charts.line_chart(
            days,
            [
                ("Sent", "series-sent", [row.sent for row in report.days]),
                ("Received", "series-received", [row.received for row in report.days]),
            ],
        ),
        response_chart=charts.column_chart(
            days,
            [None if row.response_median is None else row.response_median / 60 for row in report.days],
            unit="min",
        ),  # fmt: skip
        agents_chart=charts.bar_chart([(row.name, row.sent) for row in report.agents[:15]]),
        duration=format_duration,
        percent=format_percent,
    )
    return render_template("reports/index.html", **context)


@bp.get("/<table>.csv")
def download(table: str):
    report, _scope, error = _load()
    if error is not None:
        return error_page(422, "This report cannot be downloaded", error.message)
    found = build_tables(report).get(table)
    if found is None:
        abort(404)
    period = report.range
    filename = f"parley-{table}-{period.first:%Y-%m-%d}-to-{period.last:%Y-%m-%d}.csv"
    return Response(
        csv_text(found.csv_header, found.csv_rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_url(name: str) -> str:
    kept = {key: request.args[key] for key in FILTERS if request.args.get(key)}
    return url_for("reports.download", table=name, **kept)


def format_duration(seconds: float | None) -> str:
    """ "45 s", "4 min 30 s", "2 h 5 min", "3 d 4 h"; "—" when there is nothing to measure."""
    if seconds is None:
        return "—"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def format_percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _seconds(value: float | None) -> float | str:
    return _raw(value, 1)


def _raw(value: float | None, digits: int = 0) -> float | str:
    """A figure for the CSV: the number itself, empty when there is nothing to measure."""
    if value is None:
        return ""
    return round(value, digits) if digits else value


def _shown(value: int | None) -> int | str:
    return "—" if value is None else value


def build_tables(report: reports.Report) -> dict[str, Table]:
    """Every table of the page, in the order shown."""
    r = report
    summary = [
        ("Texts sent", r.messages_sent, r.messages_sent),
        ("Texts received", r.messages_received, r.messages_received),
        ("Delivered", r.delivered, r.delivered),
        ("Failed or undelivered", r.failed, r.failed),
        ("Not sent by Parley (opted out, number switched off)", r.refused, r.refused),
        ("Delivery rate", format_percent(r.delivery_rate), _raw(r.delivery_rate, 4)),
        ("Conversations started by agents", r.started_by_agents, r.started_by_agents),
        ("Conversations started by contacts", r.started_by_contacts, r.started_by_contacts),
        ("Conversations started with a bot", r.started_by_bots, r.started_by_bots),
        ("Contacts texted", r.contacts_texted, r.contacts_texted),
        ("Contacts who replied", r.contacts_replied, r.contacts_replied),
        ("Reply rate", format_percent(r.reply_rate), _raw(r.reply_rate, 4)),
        ("Responses to contacts", r.responses, r.responses),
        ("Median first response", format_duration(r.response_median), _seconds(r.response_median)),
        ("90th percentile first response", format_duration(r.response_p90), _seconds(r.response_p90)),
        ("Conversations that waited over an hour", r.long_waits, r.long_waits),
        ("Bot answers", _shown(r.bot_answers), _raw(r.bot_answers)),
        ("Bot escalations", _shown(r.bot_escalations), _raw(r.bot_escalations)),
        ("Opt-outs", r.opt_outs, r.opt_outs),
        ("Opt-ins", r.opt_ins, r.opt_ins),
    ]  # fmt: skip
    return {
        "summary": Table(
            "summary", "Summary", ("Figure", "Value"), [(name, shown) for name, shown, _ in summary],
            ("figure", "value"), [(name, raw) for name, _, raw in summary],
        ),
        "messages-per-day": Table(
            "messages-per-day", "Texts per day", ("Day", "Sent", "Received"),
            [(f"{d.day:%a %b} {d.day.day}", d.sent, d.received) for d in r.days],
            ("day", "sent", "received"), [(d.day.isoformat(), d.sent, d.received) for d in r.days],
        ),
        "response-times": Table(
            "response-times", "First response time per day",
            ("Day", "Responses", "Median", "90th percentile"),
            [(f"{d.day:%a %b} {d.day.day}", d.responses, format_duration(d.response_median),
              format_duration(d.response_p90)) for d in r.days],
            ("day", "responses", "median_seconds", "p90_seconds"),
            [(d.day.isoformat(), d.responses, _seconds(d.response_median), _seconds(d.response_p90))
             for d in r.days],
        ),
        "agents": Table(
            "agents", "Agents",
            ("Agent", "Texts sent", "Conversations started", "Responses", "Median first response",
             "90th percentile"),
            [(a.name, a.sent, a.conversations_started, a.responses, format_duration(a.response_median),
              format_duration(a.response_p90)) for a in r.agents],
            ("agent", "texts_sent", "conversations_started", "responses", "median_seconds", "p90_seconds"),
            [(a.name, a.sent, a.conversations_started, a.responses, _seconds(a.response_median),
              _seconds(a.response_p90)) for a in r.agents],
        ),
        "failures": Table(
            "failures", "Failures by reason", ("Reason", "Texts"), list(r.failures),
            ("reason", "texts"), list(r.failures),
        ),
    }  # fmt: skip
