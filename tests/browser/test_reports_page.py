"""The Reports page in a real browser: a director opens it from the header, sees the last 30 days
in charts, narrows the range and the agent, reads a chart's table and downloads it; the charts'
labels are readable on a desktop and on a phone."""

from __future__ import annotations

import codecs
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from tests.browser.axe import Audit
from tests.browser.conftest import log_in, release
from webapp.extensions import db
from webapp.models import Message, utcnow
from webapp.services import sending


def test_a_director_reads_reports_changes_the_range_and_downloads_a_table(page: Page, setup, make):
    alex, sam = setup["users"]["admin"], setup["users"]["standard"]
    number_id = setup["number"].id
    # Sam texted three contacts 20 days ago, Alex one today.
    for phone in ("(202) 555-0143", "(202) 555-0178", "(202) 555-0190"):
        old = sending.create_text(sam, number_id, phone, "Checking in")
        db.session.execute(
            update(Message).where(Message.id == old.id).values(created_at=utcnow() - timedelta(days=20))
        )
    sending.create_text(alex, number_id, "(202) 555-0111", "Welcome!")
    release()

    log_in(page, "admin@example.edu")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()
    expect(page.get_by_role("img", name="Texts sent and received per day")).to_be_visible()
    expect(page.get_by_role("img", name="Leaderboard: texts sent")).to_be_visible()
    audit = Audit(1280)
    audit.check(page, "reports, last 30 days")
    glance = page.locator(".report-stats")
    expect(glance.get_by_text("Texts sent", exact=True).locator("xpath=..")).to_contain_text("4")

    # The chart's table, under its disclosure: a row per day of the last 30.
    page.get_by_text("Table: Texts per day").click()
    day_rows = page.get_by_role("table", name="Texts per day").locator("tbody tr")
    expect(day_rows).to_have_count(30)
    agents_chart = page.get_by_role("img", name="Leaderboard: texts sent")
    expect(agents_chart).to_contain_text("Sam Standard")

    page.get_by_label("Range").select_option(label="Last 7 days")
    page.get_by_role("button", name="Show report").click()
    expect(page).to_have_url(re.compile(r"range=7"))
    expect(glance.get_by_text("Texts sent", exact=True).locator("xpath=..")).to_contain_text("1")
    page.get_by_text("Table: Texts per day").click()
    expect(page.get_by_role("table", name="Texts per day").locator("tbody tr")).to_have_count(7)
    expect(page.get_by_role("img", name="Leaderboard: texts sent")).not_to_contain_text("Sam Standard")

    # One agent over 90 days: Sam's three texts.
    page.get_by_label("Range").select_option(label="Last 90 days")
    page.get_by_label("Agent").select_option(label="Sam Standard")
    page.get_by_role("button", name="Show report").click()
    expect(glance.get_by_text("Texts sent", exact=True).locator("xpath=..")).to_contain_text("3")
    expect(page.get_by_role("heading", level=2, name="Sam Standard")).to_be_visible()
    audit.check(page, "reports, one agent, tables open")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV of agents").click()
    saved = download.value.path().read_bytes()
    assert saved.startswith(codecs.BOM_UTF8)  # so that Excel on Windows reads it as UTF-8
    lines = saved.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("agent,texts_sent") and lines[1].startswith("Sam Standard,3,3,")
    # Dates typed in From and To make the range, Range following them: the day of Sam's texts.
    day = (utcnow() - timedelta(days=20)).date().isoformat()
    page.wait_for_load_state("load")  # reports.js (Range follows the dates) is running
    page.get_by_label("Agent").select_option(label="All agents")
    page.get_by_label("From", exact=True).fill(day)
    page.get_by_label("To", exact=True).fill(day)
    expect(page.get_by_label("Range")).to_have_value("custom")
    page.get_by_role("button", name="Show report").click()
    expect(page).to_have_url(re.compile(r"range=custom"))
    expect(glance.get_by_text("Texts sent", exact=True).locator("xpath=..")).to_contain_text("3")
    page.get_by_text("Table: Texts per day").click()
    expect(page.get_by_role("table", name="Texts per day").locator("tbody tr")).to_have_count(1)
    # One office is still a filter to choose.
    expect(page.get_by_label("Office")).to_have_value("")
    page.get_by_label("Office").select_option(label="Admissions")

    page.goto("/reports?range=custom&from=2026-03-04&to=2026-03-01")
    expect(page.get_by_role("alert")).to_contain_text("before it starts")
    audit.check(page, "reports, a backwards range")
    audit.assert_clean()


# Every chart label shown: its chart, its text, its size on screen and its colour and box.
CHART_LABELS = """() => Array.from(document.querySelectorAll("svg.chart text"))
  .filter((t) => t.getClientRects().length)
  .map((t) => {
    const box = t.getBoundingClientRect(), style = getComputedStyle(t);
    return {
      chart: t.closest("svg.chart").getAttribute("aria-labelledby"), text: t.textContent,
      across: t.classList.contains("tick") && t.getAttribute("text-anchor") === "middle",
      px: parseFloat(style.fontSize) * t.getScreenCTM().a, fill: style.fill,
      left: box.left, right: box.right,
    };
  })"""


def contrast(rgb: str, background: tuple[int, int, int] = (255, 255, 255)) -> float:
    """WCAG 2 contrast ratio of a computed colour, "rgb(r, g, b)", on the background."""

    def luminance(channels: list[int] | tuple[int, int, int]) -> float:
        linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    colour = [int(c) for c in re.findall(r"\d+", rgb)[:3]]
    lighter, darker = sorted((luminance(colour), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize("width", [1280, 320])
def test_chart_labels_are_readable_at_every_width(page: Page, setup, width: int):
    sam = setup["users"]["standard"]
    for k, phone in enumerate(("(202) 555-0143", "(202) 555-0178", "(202) 555-0190")):
        message = sending.create_text(sam, setup["number"].id, phone, "Checking in")
        earlier = utcnow() - timedelta(days=3 * k)
        db.session.execute(update(Message).where(Message.id == message.id).values(created_at=earlier))
    release()
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, "admin@example.edu")
    page.goto("/reports")
    expect(page.get_by_role("img", name="Leaderboard: texts sent")).to_contain_text("Sam Standard")

    labels = page.evaluate(CHART_LABELS)
    charts = {label["chart"] for label in labels}
    assert charts == {"messages-chart-title", "response-chart-title", "agents-chart-title"}
    # At least 12 px on screen at 100% zoom, and AA contrast on the white card.
    small = [(label["text"], round(label["px"], 1)) for label in labels if label["px"] < 12]
    assert not small, f"chart labels under 12 px at {width} px wide: {small}"
    faint = {label["fill"] for label in labels if contrast(label["fill"]) < 4.5}
    assert not faint, f"chart label colours under 4.5:1 on white: {faint}"
    # Reflow: every label inside the page, no sideways scrolling, the dates along an axis apart.
    outside = [label["text"] for label in labels if label["left"] < 0 or label["right"] > width]
    assert not outside, f"chart labels outside a {width} px page: {outside}"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for chart in charts:
        across = sorted((t for t in labels if t["chart"] == chart and t["across"]), key=lambda t: t["left"])
        pairs = zip(across, across[1:], strict=False)
        crowded = [(a["text"], b["text"]) for a, b in pairs if a["right"] + 4 > b["left"]]
        assert not crowded, f"labels running into each other at {width} px: {crowded}"
