"""The Reports page and its CSV files: who sees what, bad input, and what a spreadsheet gets."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.admin.conftest import as_admin, world  # noqa: F401
from tests.conftest import csv_rows, login
from webapp.extensions import db
from webapp.models import Message, User, utcnow
from webapp.plugin_api import InboundMessage
from webapp.services import inbound, sending


@pytest.fixture
def texted(world):  # noqa: F811
    """Today: Sam texts Maria, she answers, Sam answers her, but that text failed (never sent, no
    answer) with a reason a spreadsheet would run as a formula. Financial Aid's staff texts someone
    too."""
    sam = world["users"]["standard"]
    sending.create_text(sam, world["number"].id, "(202) 555-0143", "Hi Maria")
    inbound.receive(InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body="Hi!"), "console")
    failed = sending.create_text(sam, world["number"].id, "(202) 555-0143", "Welcome")
    db.session.execute(
        update(Message)
        .where(Message.id == failed.id)
        .values(status="failed", error_reason="=cmd|' /C calc'!A0")
    )
    db.session.execute(update(User).where(User.id == sam.id).values(name="@Sam Standard"))
    sending.create_text(world["other_user"], world["other_number"].id, "(202) 555-0199", "FA here")
    db.session.commit()
    return world


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/csv"
    return csv_rows(response)


def test_an_admin_sees_the_office_at_a_glance_with_charts_and_tables(client, texted):
    as_admin(client)
    page = client.get("/reports")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Reports</h1>" in html
    # Three charts, each an image with a title, each followed by its table under a disclosure.
    assert html.count('role="img"') == 3
    for title in ("Texts sent and received per day", "Median first response time per day, in minutes",
                  "Leaderboard: texts sent"):  # fmt: skip
        assert f">{title}</title>" in html
    assert html.count("<details") == 5 and "Table: Texts per day" in html
    # Drawn on the server, allowed by the Content-Security-Policy: no script, no inline style.
    assert "<script>" not in html and "style=" not in html and "reports.css" in html
    assert "FA here" not in html and "Finn Staff" not in html  # Financial Aid's agent
    # The failed text never left: it is a failure, not a text sent, and Maria still waits.
    assert "<dt>Texts sent</dt><dd>1</dd>" in html
    assert "0 delivered, 1 failed or undelivered, 1 sent with no delivery report." in html
    summary = dict(rows_of(client.get("/reports/summary.csv"))[1:])
    assert (summary["Texts sent"], summary["Texts received"], summary["Failed or undelivered"]) == (
        "1",
        "1",
        "1",
    )
    assert summary["Responses to contacts"] == "0"


def test_every_table_downloads_as_csv_with_formulas_neutralised(client, texted):
    as_admin(client)
    agents = rows_of(client.get("/reports/agents.csv?range=7"))
    assert agents[0] == [
        "agent",
        "texts_sent",
        "conversations_started",
        "responses",
        "median_seconds",
        "p90_seconds",
    ]
    assert agents[1][:4] == ["'@Sam Standard", "1", "1", "0"]
    failures = rows_of(client.get("/reports/failures.csv"))
    assert failures[1] == ["'=cmd|' /C calc'!A0", "1"]
    per_day = rows_of(client.get("/reports/messages-per-day.csv?range=7"))
    assert len(per_day) == 1 + 7 and per_day[-1][1:] == ["1", "1"]
    assert len(rows_of(client.get("/reports/response-times.csv?range=90"))) == 1 + 90
    download = client.get("/reports/summary.csv")
    assert "attachment" in download.headers["Content-Disposition"]
    assert client.get("/reports/everything.csv").status_code == 404


def test_a_standard_user_sees_only_their_own_figures(client, texted):
    login(client, "standard@example.edu")
    html = client.get("/reports").get_data(as_text=True)
    assert "Your own texting" in html and 'name="agent"' not in html
    agents = rows_of(client.get("/reports/agents.csv"))
    assert [row[0] for row in agents[1:]] == ["'@Sam Standard"]
    refused = client.get(f"/reports?agent={texted['users']['admin'].id}")
    assert refused.status_code == 422 and "your own figures" in refused.get_data(as_text=True)


def test_a_limited_user_can_open_reports(client, texted):
    login(client, "limited@example.edu")
    assert client.get("/reports").status_code == 200


@pytest.mark.parametrize(
    ("query", "words", "field"),
    [
        ("range=custom&from=2026-03-04&to=2026-03-01", "before it starts", "report-to"),
        ("range=custom&from=2020-01-01&to=2021-06-01", "at most 366 days", "report-from"),
        ("range=custom&from=not-a-date&to=2021-06-01", "is not a date", "report-from"),
        ("range=12", "7, 30 or 90", "report-range"),
        ("range=" + "7" * 4301, "7, 30 or 90", "report-range"),  # more digits than int() reads
        ("range=%C2%B2", "7, 30 or 90", "report-range"),  # a digit to str.isdigit, not to int()
    ],
)
def test_bad_ranges_get_a_clear_message_and_no_figures(client, texted, query, words, field):
    as_admin(client)
    page = client.get(f"/reports?{query}")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert words in html and 'role="alert"' in html and 'role="img"' not in html
    # Focus starts at the field the error is about (one autofocus on the page), which it describes.
    assert html.count(" autofocus") == 1
    invalid = ' aria-invalid="true" aria-describedby="report-error" autofocus'
    assert re.search(rf'<(input|select) id="{field}"[^>]*{invalid}', html)
    download = client.get(f"/reports/summary.csv?{query}")  # the same words, on Parley's page
    assert download.status_code == 422 and words in download.get_data(as_text=True)
    assert "This report cannot be downloaded" in download.get_data(as_text=True)


def test_a_range_ending_in_the_future_is_refused(client, texted):
    as_admin(client)
    after_tomorrow = (utcnow() + timedelta(days=2)).date()
    page = client.get(f"/reports?range=custom&from={after_tomorrow - timedelta(days=30)}&to={after_tomorrow}")
    assert page.status_code == 422 and "in the future" in page.get_data(as_text=True)


def test_a_range_ending_on_the_readers_today_a_time_zone_ahead_is_shown(client, texted):
    as_admin(client)
    tomorrow = (utcnow() + timedelta(days=1)).date()
    page = client.get(f"/reports?range=custom&from={tomorrow - timedelta(days=30)}&to={tomorrow}")
    assert page.status_code == 200 and 'role="img"' in page.get_data(as_text=True)


def test_another_offices_agent_number_or_office_is_refused(client, texted):
    as_admin(client)
    for query in (f"agent={texted['other_user'].id}", f"number={texted['other_number'].id}",
                  f"office={texted['other_office'].id}", "agent=99999", "number=abc",
                  "office=%C2%B2"):  # fmt: skip
        page = client.get(f"/reports?{query}")
        assert page.status_code == 422, query
        html = page.get_data(as_text=True)
        assert "There is no such" in html and "FA Main" not in html and "Finn Staff" not in html


def test_reports_need_a_signed_in_user(client, texted):
    assert client.get("/reports").status_code == 302
    assert client.get("/reports/summary.csv").status_code == 302


def test_chart_axes_end_on_round_numbers():
    from webapp.web.charts import bar_chart, nice_max

    assert [nice_max(v) for v in (0, 3, 4, 5, 9, 170, 1234)] == [4, 4, 4, 8, 10, 200, 2000]
    assert nice_max(0.7, whole=False) == 0.8
    chart = bar_chart([("Sam", 3), ("Alex", 1)])
    assert [t.label for t in chart.x_ticks] == ["0", "1", "2", "3", "4"]
    assert chart.bars[0].width == 3 * chart.bars[1].width


def test_the_delivery_rate_is_over_texts_with_a_delivery_report_and_a_dash_without_any(
    client, texted
):
    """The console (like some carrier routes) never reports "delivered": texts left "sent" are
    outside the rate, and the page says how many texts the rate is over."""
    as_admin(client)
    html = client.get("/reports").get_data(as_text=True)
    assert "Delivery rate</dt><dd>0.0%" in html and "of 1 text with a delivery report" in html
    assert "1 sent with no delivery report" in html and "never report that a text was delivered" in html

    db.session.execute(update(Message).where(Message.status == "failed").values(status="sent"))
    db.session.commit()
    html = client.get("/reports").get_data(as_text=True)
    assert "Delivery rate</dt><dd>—" in html and "no delivery reports yet" in html
    assert "2 sent with no delivery report" in html
    summary = {row[0]: row for row in rows_of(client.get("/reports/summary.csv"))[1:]}
    assert summary["Delivery rate"] == ["Delivery rate", ""]  # empty, not 0


def test_a_text_parley_refused_is_a_failure_outside_the_delivery_rate(client, texted):
    """The failed answer was refused by Parley (the contact had opted out): it never reached a
    provider, so the rate has no delivery report to go on, and the page says why."""
    db.session.execute(
        update(Message).where(Message.status == "failed").values(error_code=sending.OPTED_OUT_CODE)
    )
    db.session.commit()
    as_admin(client)
    html = client.get("/reports").get_data(as_text=True)
    assert "Delivery rate</dt><dd>—" in html and "no delivery reports yet" in html
    assert "1 failed or undelivered (1 of them not sent by Parley" in html
    summary = {row[0]: row[1] for row in rows_of(client.get("/reports/summary.csv"))[1:]}
    assert summary["Failed or undelivered"] == "1"
    assert summary["Not sent by Parley (opted out, number switched off)"] == "1"
    assert summary["Delivery rate"] == ""
