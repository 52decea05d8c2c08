"""Parley framed by a CRM in headless Chromium: launch, look up, text, inbox; framing refused to
origins that are not allowed; the new-tab fallback; the compact layout from 320 px."""

from __future__ import annotations

import io
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.browser_embed.conftest import EmbedSite
from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.services import campaigns

CONTACTS = b"first_name,last_name,phone\nMaria,Garcia,202-555-0143\nJames,Smith,2025550178\n"

NO_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
SMALL_CONTROLS = """() => {
  const selector = 'button, input:not([type=hidden]), select, textarea, [role=tab], .btn,'
    + ' .app-nav a, .conv-row a, .back-link, [role=menuitem], .contact-convs a, summary, .card > p > a';
  return Array.from(document.querySelectorAll(selector))
    .filter(el => el.offsetParent !== null)
    .map(el => [el.outerHTML.slice(0, 80), el.getBoundingClientRect().height])
    .filter(([, height]) => height < 43.5);
}"""


@pytest.fixture
def crm_data(setup) -> dict:
    """A launched campaign naming Maria Garcia. Plain values only: touching a model later would
    open a transaction in the test thread and hold SQLite's lock while the browser works."""
    campaigns.import_campaign("Fall Open House", "Admissions", io.BytesIO(CONTACTS), launch=True)
    data = {"number_id": setup["number"].id}
    db.session.commit()
    db.session.remove()
    return data


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def crm_page(browser, width: int = 1280, height: int = 900) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    return context.new_page()


def test_agent_texts_from_inside_the_crm(browser, embed_site: EmbedSite, crm_data, artifacts):
    page = crm_page(browser)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{embed_site.crm.origin}/crm?sub=standard@example.edu")
    frame = page.frame_locator("iframe[title=Parley]")
    expect(frame.get_by_role("tab", name="Needs Attention")).to_be_visible()
    # In a frame (Sec-Fetch-Dest: iframe) the launch passes the cookie check on its way.
    assert any("/embed/check?" in url for url in requested), requested

    # The session cookie is the embedded kind: cross-site capable, and partitioned to the CRM.
    cookie = next(c for c in page.context.cookies() if c["name"] == "session")
    assert cookie["sameSite"] == "None" and cookie["secure"] is True
    assert cookie.get("partitionKey"), cookie

    # Look the contact up from the header (debounced dropdown), then text them.
    frame.get_by_label("Look up a contact by phone or name").press_sequentially("garc", delay=60)
    dropdown = frame.locator("#header-lookup-results")
    expect(dropdown).to_contain_text("Maria Garcia")
    expect(dropdown).to_contain_text("(202) 555-0143")
    expect(dropdown).to_contain_text("Can be texted")
    page.screenshot(path=str(artifacts / "embed-crm-lookup-1280.png"))
    dropdown.get_by_role("link", name="Text this contact").click()

    expect(frame.get_by_label("To")).to_have_value("(202) 555-0143")
    expect(frame.get_by_label("From")).to_have_value(str(crm_data["number_id"]))
    frame.get_by_label("Message").fill("Hello from inside the CRM")
    frame.get_by_role("button", name="Send").click()  # an htmx POST: CSRF in a partitioned session
    expect(frame.locator("#thread")).to_contain_text("Hello from inside the CRM")
    expect(frame.locator("#conversation-pane h2")).to_have_text("Maria Garcia")

    frame.get_by_role("link", name="Inbox", exact=True).click()
    expect(frame.locator("#thread")).to_have_count(0)  # the inbox, with no conversation open, is in
    frame.get_by_role("tab", name="Participating").click()
    row = frame.get_by_role("tabpanel").locator(".conv-row", has_text="Maria Garcia")
    expect(row).to_contain_text("Hello from inside the CRM")
    page.screenshot(path=str(artifacts / "embed-crm-inbox-1280.png"))

    # The lookup now lists the conversation, with a link that opens it.
    frame.get_by_label("Look up a contact by phone or name").fill("2025550143")
    expect(dropdown.get_by_role("link", name="Conversation on Admissions Main")).to_be_visible()
    page.context.close()


def test_crm_origin_not_allowed_cannot_show_parley(browser, embed_site: EmbedSite, crm_data):
    page = crm_page(browser)
    # Chromium reports the refusal on the console: "Refused to frame … frame-ancestors …".
    with page.expect_console_message(lambda message: "frame-ancestors" in message.text):
        page.goto(f"{embed_site.foreign_crm.origin}/crm?sub=standard@example.edu")
    page.wait_for_load_state("load")
    frame = page.frames[1]
    content = frame.content()
    assert "Needs Attention" not in content
    assert "Parley" not in frame.title()
    assert frame.locator("#main").count() == 0
    page.context.close()

    # The same page from the allowed origin does show the app (the check above is meaningful).
    page = crm_page(browser)
    page.goto(f"{embed_site.crm.origin}/crm?sub=standard@example.edu")
    expect(page.frame_locator("iframe[title=Parley]").locator("#main")).to_contain_text(
        "Needs Attention"
    )
    page.context.close()


def test_refused_cookie_offers_parley_in_a_new_tab(
    browser, embed_site: EmbedSite, crm_data, artifacts
):
    page = crm_page(browser)

    def drop_cookie(route):
        """Play a browser that refuses third-party cookies: the launch's cookie never arrives.

        The launch is fetched here (not with route.fetch, whose cookie jar would keep the cookie)
        with the headers Chromium sends for a frame."""
        headers = {k: v for k, v in route.request.all_headers().items() if not k.startswith(":")}
        headers["sec-fetch-dest"] = "iframe"  # added by Chromium after interception, so add it here
        opener = urllib.request.build_opener(NoRedirects)
        try:
            response = opener.open(urllib.request.Request(route.request.url, headers=headers))
        except urllib.error.HTTPError as redirect:  # the 302, not followed
            response = redirect
        kept = {k: v for k, v in response.headers.items() if k.lower() != "set-cookie"}
        route.fulfill(status=response.status, headers=kept, body=response.read())

    page.context.route("**/embed/launch?*", drop_cookie)
    page.goto(f"{embed_site.crm.origin}/crm?sub=standard@example.edu&next=/inbox?tab=participating")
    frame = page.frame_locator("iframe[title=Parley]")
    link = frame.get_by_role("link", name="Open Parley in a new tab")
    expect(link).to_be_visible()
    page.screenshot(path=str(artifacts / "embed-crm-cookies-refused-1280.png"))
    page.context.unroute("**/embed/launch?*")
    with page.context.expect_page() as new_tab:
        link.click()
    tab = new_tab.value
    expect(tab.get_by_role("tab", name="Participating")).to_have_attribute("aria-selected", "true")
    expect(tab.get_by_role("button", name="Create Content")).to_be_visible()
    page.context.close()


@pytest.mark.parametrize("width", [320, 360, 1280])
def test_screens_fit_from_320_px(browser, embed_site: EmbedSite, crm_data, artifacts, width):
    """Every screen, top-level and framed: no horizontal scrolling, touch-sized controls."""
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    app = embed_site.app_url

    page.goto(f"{app}/login")
    check_screen(page, artifacts, width, "login")
    page.get_by_label("Email").fill("standard@example.edu")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("tab", name="Needs Attention")).to_be_visible()
    check_screen(page, artifacts, width, "inbox-empty")

    page.goto(f"{app}/texts/new?to=2025550143")
    check_screen(page, artifacts, width, "compose")
    page.get_by_label("Message").fill("A message long enough to wrap on a narrow screen. " * 3)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#thread")).to_contain_text("A message long enough")
    check_screen(page, artifacts, width, "conversation")

    page.goto(f"{app}/inbox?tab=participating")
    check_screen(page, artifacts, width, "inbox")
    page.goto(f"{app}/conversations/987654")
    expect(page.get_by_role("link", name="Go to the inbox")).to_be_visible()
    check_screen(page, artifacts, width, "not-found")
    page.goto(f"{app}/contacts/lookup?phone=2025550143")
    check_screen(page, artifacts, width, "lookup")
    lookup = page.get_by_label("Look up a contact by phone or name")
    if not lookup.is_visible():  # narrow screens: the search sits behind its header button
        page.get_by_role("button", name="Search contacts").click()
    lookup.fill("maria")
    expect(page.locator("#header-lookup-results")).to_contain_text("Maria Garcia")
    check_screen(page, artifacts, width, "header-dropdown")
    page.get_by_role("button", name="Create Content").click()
    check_screen(page, artifacts, width, "create-menu")
    page.goto(f"{app}/embed/launch?token=expired")
    check_screen(page, artifacts, width, "launch-refused")
    context.close()

    # Framed in the CRM at this width.
    page = crm_page(browser, width=width)
    page.goto(f"{embed_site.crm.origin}/crm?sub=standard@example.edu")
    framed = page.frame_locator("iframe[title=Parley]")
    expect(framed.get_by_role("tab", name="Needs Attention")).to_be_visible()
    frame = page.frames[1]
    assert frame.evaluate(NO_OVERFLOW), f"Parley overflows its frame at {width} px"
    page.screenshot(path=str(artifacts / f"embed-crm-{width}.png"))
    page.context.close()


def check_screen(page: Page, artifacts, width: int, name: str) -> None:
    page.screenshot(path=str(artifacts / f"embed-{name}-{width}.png"))
    assert page.evaluate(NO_OVERFLOW), f"{name} scrolls sideways at {width} px"
    if width < 768:
        assert page.evaluate(SMALL_CONTROLS) == [], f"{name}: controls under 44 px at {width} px"



def test_after_log_out_in_the_crm_the_agent_logs_in_again_there(
    browser, embed_site: EmbedSite, crm_data
):
    page = crm_page(browser)
    page.goto(f"{embed_site.crm.origin}/crm?sub=standard@example.edu")
    frame = page.frame_locator("iframe[title=Parley]")
    expect(frame.get_by_role("tab", name="Needs Attention")).to_be_visible()
    frame.get_by_role("button", name="Log out").click()
    frame.get_by_label("Email").fill("standard@example.edu")
    frame.get_by_label("Password").fill(PASSWORD)
    frame.get_by_role("button", name="Log in").click()
    expect(frame.get_by_role("tab", name="Needs Attention")).to_be_visible()
    expect(frame.get_by_role("button", name="Create Content")).to_be_visible()
    page.context.close()


def test_the_login_page_framed_by_the_crm_signs_in_there(browser, embed_site: EmbedSite, crm_data):
    page = crm_page(browser)
    page.goto(f"{embed_site.crm.origin}/crm?frame=/login")
    frame = page.frame_locator("iframe[title=Parley]")
    frame.get_by_label("Email").fill("standard@example.edu")
    frame.get_by_label("Password").fill(PASSWORD)
    frame.get_by_role("button", name="Log in").click()
    expect(frame.get_by_role("tab", name="Needs Attention")).to_be_visible()
    page.context.close()



def test_a_send_whose_sign_in_the_browser_dropped_says_to_reopen_parley_not_reload(
    browser, embed_site: EmbedSite, crm_data
):
    """The frame's cookie gone (the browser cleared it, or stopped keeping third-party cookies):
    compose's Send, an htmx form, is answered for a frame, where a reload would not help."""
    page = crm_page(browser)
    page.goto(f"{embed_site.crm.origin}/crm?sub=standard@example.edu&next=/texts/new")
    frame = page.frame_locator("iframe[title=Parley]")
    # The To field's notice is asked for as the phone is typed: answered before the cookie goes,
    # or its request, unsigned, takes the frame to the login page before Send is pressed.
    with page.expect_response(lambda response: "/texts/new/to-notice" in response.url):
        frame.get_by_label("To").fill("2025550178")
    frame.get_by_label("Message").fill("Are you coming on Saturday?")
    page.context.clear_cookies()
    frame.get_by_role("button", name="Send").click()
    expect(frame.get_by_text("This form cannot be sent from here")).to_be_visible()
    expect(frame.get_by_text("Reload the page")).to_have_count(0)
    page.context.close()
