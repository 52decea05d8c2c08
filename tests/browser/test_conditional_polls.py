"""Polls are conditional in the real page: it sends back each poll's ETag, the server answers 304
while nothing changed (and nothing on the page moves), and a change still shows within a poll.
One poll checks the list and the open conversation, which refreshes itself only when told."""

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

    # A poll or two later: the list's poll named the open conversation and sent back both tags,
    # and got 304s; the conversation asked nothing of its own meanwhile. (A poll answered 200
    # restarts its timer, so the second poll may come a little after 2 x 3 s.)
    def checked_both() -> bool:
        return any(
            "open=" in url and status == 304 and tag and tag.count('W/"') == 2
            for url, status, tag in answers
        )

    deadline = time.monotonic() + 6 * POLL_SECONDS
    while not checked_both():
        assert time.monotonic() < deadline, answers
        page.wait_for_timeout(250)
    opened_at = len(answers)
    page.wait_for_timeout(2 * POLL_SECONDS * 1000)
    quiet = answers[opened_at:]
    assert quiet and all(status == 304 for _, status, _ in quiet), quiet
    # The pane came with its refresh's tag: nothing was refreshed since it opened.
    assert not any("/live" in url for url, _, _ in answers), answers
    expect(thread).to_contain_text("First question")  # a 304 swapped nothing away
    expect(page.get_by_role("tab", name=re.compile("Needs Attention"))).to_be_visible()

    # Acting in the conversation answers with the pane, which carries its refresh's tag: the
    # list's next polls find nothing to refresh.
    page.get_by_role("textbox", name="Note").fill("Called back, left a message")
    page.get_by_role("button", name="Add note").click()
    expect(thread).to_contain_text("Called back, left a message")
    acted_at = len(answers)
    page.wait_for_timeout(2 * POLL_SECONDS * 1000)
    assert answers[acted_at:] and not any("/live" in url for url, _, _ in answers), answers

    # A reply from the contact shows in the thread and the list within a poll (and slack for a
    # busy test machine).
    sms_receive(app, "2025550143", world.number_phone, "Second question")
    expect(thread).to_contain_text("Second question", timeout=(POLL_SECONDS + 5) * 1000)
    rows = page.get_by_role("tabpanel")
    expect(rows).to_contain_text("Second question", timeout=(POLL_SECONDS + 5) * 1000)
    assert any("/live" in url and status == 200 for url, status, _ in answers[opened_at:]), answers
