"""Polls are conditional in the real page: it sends back each poll's ETag, the server answers 304
while nothing changed (and nothing on the page moves), and a change still shows within a poll."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from tests.browser.conftest import World, log_in, sms_receive

POLL_SECONDS = 3


def test_unchanged_polls_are_304_and_a_change_still_shows_within_a_poll(page: Page, app, world: World):
    sms_receive(app, "2025550143", world.number_phone, "First question")
    log_in(page, "standard@example.edu")
    answers: list[tuple[str, int, str | None]] = []
    page.on(
        "response",
        lambda response: (
            answers.append((response.url, response.status, response.request.headers.get("if-none-match")))
            if re.search(r"/inbox\?tab=|/live$", response.url)
            else None
        ),
    )
    page.goto("/inbox")
    page.get_by_role("link", name=re.compile("First question")).click()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("First question")

    # A poll or two of each later: the page sent the tags back, and got 304s. (A poll answered
    # 200 restarts its timer, so the second poll may come a little after 2 x 3 s.)
    def unchanged(kind: str) -> bool:
        return any(kind in url and tag and status == 304 for url, status, tag in answers)

    deadline = time.monotonic() + 6 * POLL_SECONDS
    while not (unchanged("/inbox?tab=attention") and unchanged("/live")):
        assert time.monotonic() < deadline, answers
        page.wait_for_timeout(250)
    expect(thread).to_contain_text("First question")  # a 304 swapped nothing away
    expect(page.get_by_role("tab", name=re.compile("Needs Attention"))).to_be_visible()

    # A reply from the contact shows in the thread and the list within a poll (and slack for a
    # busy test machine).
    sms_receive(app, "2025550143", world.number_phone, "Second question")
    expect(thread).to_contain_text("Second question", timeout=(POLL_SECONDS + 5) * 1000)
    rows = page.get_by_role("tabpanel")
    expect(rows).to_contain_text("Second question", timeout=(POLL_SECONDS + 5) * 1000)
