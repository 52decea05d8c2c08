"""Reusable numbers in the admin console: add, edit, deactivate, Unsolicited Message Settings."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.admin.conftest import post, switch
from tests.conftest import login
from webapp.extensions import db
from webapp.models import AuditEvent, Conversation, IdkAction, Message, ReusableNumber, User
from webapp.plugin_api import InboundMessage
from webapp.services import access, inbound, inbox
from webapp.services.admin import FormErrors, numbers

ENABLED = ["console"]


def add(world, phone="+12025550300", **overrides):
    values = {
        "office_id": world["office"].id,
        "label": "Scholarships",
        "description": "For scholarship questions",
        "provider": "console",
        "enabled_providers": ENABLED,
        "backing": "agent",
        "agent_ids": set(),
        "inbox_ids": {world["office"].id},
    }
    values.update(overrides)
    return numbers.add_number(world["users"]["admin"], phone, **values)


def from_list(client) -> list[str]:
    page = client.get("/texts/new").get_data(as_text=True)
    select_html = page.split('id="compose-from"')[1].split("</select>")[0]
    return re.findall(r"<option value=\"\d+\"[^>]*>([^<]+)</option>", select_html)


def test_add_number_with_settings_and_audit(world):
    number = add(world, agent_ids={world["users"]["limited"].id})
    db.session.commit()
    assert (number.phone, number.label, number.provider, number.backing) == (
        "+12025550300", "Scholarships", "console", "agent",
    )  # fmt: skip
    assert [a.email for a in number.agents] == ["limited@example.edu"]
    assert [o.name for o in number.inboxes] == ["Admissions"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "number.added"))
    assert "(202) 555-0300" in event.summary and "Lee Limited" in event.summary


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("2025550300", "'2025550300' is not an E.164 phone number (like +12025550143)."),
        ("+1 202 555 0300", "'+1 202 555 0300' is not an E.164 phone number (like +12025550143)."),
        ("+1202555", "'+1202555' is not a valid phone number."),
        ("", "Enter the phone number in E.164, like +12025550143."),
    ],
)
def test_add_number_needs_valid_e164(world, phone, message):
    with pytest.raises(FormErrors) as raised:
        add(world, phone)
    assert raised.value.errors == {"phone": message}


def test_adding_a_number_says_whether_anyone_can_text_from_it(client, world):
    login(client, "admin@example.edu")
    form = {"office_id": str(world["office"].id), "provider": "console", "backing": "agent"}
    alone = post(client, "/admin/numbers/new", {**form, "phone": "+12025550311", "label": "Alone"})
    assert "Nobody is assigned to it yet" in client.get(alone.location).get_data(as_text=True)
    staffed = post(client, "/admin/numbers/new", {**form, "phone": "+12025550312", "label": "Staffed",
                                                   "inbox_ids": [str(world["office"].id)]})  # fmt: skip
    page = client.get(staffed.location).get_data(as_text=True)
    assert "Assigned agents and inboxes can text from it now." in page


def test_add_number_refuses_a_number_in_use_precisely(client, world):
    login(client, "admin@example.edu")
    before = db.session.scalar(select(func.count()).select_from(ReusableNumber))
    response = post(
        client,
        "/admin/numbers/new",
        {"phone": "+12025550200", "office_id": str(world["office"].id), "label": "Dup",
         "provider": "console", "backing": "agent"},
    )  # fmt: skip
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert (
        'id="phone-error">+12025550200 is already a reusable number; each number can be added once.' in page
    )
    assert 'value="+12025550200"' in page and 'value="Dup"' in page
    assert db.session.scalar(select(func.count()).select_from(ReusableNumber)) == before
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_add_number_checks_every_field(world):
    with pytest.raises(FormErrors) as raised:
        add(
            world, "+12025550300", office_id=None, label=" ", provider="plivo", backing="robot",
            agent_ids={world["other_user"].id}, inbox_ids={world["other_office"].id},
        )  # fmt: skip
    assert raised.value.errors == {
        "office": "Choose the office that owns this number.",
        "label": "Give the number a label agents will recognise, like “Admissions Main”.",
        "provider": "Choose an enabled SMS provider (console).",
        "backing": "Choose who answers replies: agent or bot.",
        "agents": "Choose agents from your offices.",
        "inboxes": "Choose inboxes of your offices.",
    }


def test_provider_choices_are_the_enabled_plugins(client, world):
    login(client, "admin@example.edu")
    page = client.get("/admin/numbers/new").get_data(as_text=True)
    provider_select = page.split('id="number-provider"')[1].split("</select>")[0]
    assert re.findall(r'<option value="(\w+)"', provider_select) == list(
        client.application.extensions["parley"].sms_providers
    )


def test_new_number_reaches_the_from_list_of_assigned_agents_at_once(client, world):
    login(client, "standard@example.edu")
    assert from_list(client) == ["Admissions Main · (202) 555-0100"]
    admin = world["users"]["admin"]
    switch(client, "admin@example.edu")
    response = post(
        client,
        "/admin/numbers/new",
        {"phone": "+12025550300", "office_id": str(world["office"].id), "label": "Scholarships",
         "provider": "console", "backing": "agent",
         "agent_ids": [str(world["users"]["standard"].id)]},
        htmx=True,
    )  # fmt: skip
    assert response.status_code == 204 and response.headers["HX-Redirect"].startswith("/admin/numbers/")
    switch(client, "standard@example.edu")
    assert from_list(client) == [
        "Admissions Main · (202) 555-0100",
        "Scholarships · (202) 555-0300",
    ]
    # An office member who is not assigned does not get it.
    assert [n.label for n in access.sendable_numbers(world["users"]["limited"])] == ["Admissions Main"]
    assert admin.id


def test_settings_change_the_from_list_and_routing_at_once(client, world):
    number, standard = world["number"], world["users"]["standard"]
    inbound.receive(InboundMessage(from_phone="+12025550143", to_phone=number.phone, body="Hi"), "console")
    assert inbox.counts(standard)["attention"] == 1

    login(client, "admin@example.edu")
    response = post(client, f"/admin/numbers/{number.id}/settings", {"backing": "agent", "inbox_ids": []})
    assert response.status_code == 303
    said = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "who can see and answer the number&#39;s conversations changes at once" in said
    db.session.expire_all()
    assert access.sendable_numbers(standard) == []
    assert inbox.counts(standard)["attention"] == 0  # no longer routed to the office inbox

    response = post(
        client, f"/admin/numbers/{number.id}/settings",
        {"backing": "agent", "agent_ids": [str(standard.id)]},
    )  # fmt: skip
    assert response.status_code == 303
    db.session.expire_all()
    assert [n.id for n in access.sendable_numbers(standard)] == [number.id]
    assert inbox.counts(standard)["attention"] == 1
    assert inbox.counts(world["users"]["limited"])["attention"] == 0


def test_backing_change_applies_to_new_conversations(client, world):
    number, office = world["number"], world["office"]
    # The knowledge-base bot is empty: it answers every question with the office's IDK message.
    office.idk_action, office.idk_message = IdkAction.MESSAGE, "An adviser will text you soon."
    db.session.commit()
    first = inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone=number.phone, body="Hi"), "console"
    )
    login(client, "admin@example.edu")
    response = post(
        client, f"/admin/numbers/{number.id}/settings",
        {"backing": "bot", "inbox_ids": [str(world["office"].id)]},
    )  # fmt: skip
    assert response.status_code == 303
    assert "apply to new conversations" in client.get(response.headers["Location"]).get_data(as_text=True)
    second = inbound.receive(
        InboundMessage(from_phone="+12025550178", to_phone=number.phone, body="Hello"), "console"
    )
    db.session.expire_all()
    old, new = (
        db.session.get(Conversation, first.conversation_id),
        db.session.get(Conversation, second.conversation_id),
    )
    assert (old.mode, old.needs_attention) == ("agent", True)  # as it was
    assert (new.mode, new.needs_attention) == ("bot", False)  # the bot answers, no attention needed
    answer = db.session.scalar(
        select(Message).where(Message.conversation_id == new.id, Message.author_kind == "bot")
    )
    assert answer.body == "An adviser will text you soon."
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "number.settings_updated"))
    assert "backing agent → bot" in event.summary


def test_assignments_outside_the_admins_offices_are_shown_and_can_be_taken_off(client, world, make):
    """Another office's agent or inbox on the office's number (placed on the command line) is the
    number's admin's to see and to take off: it could otherwise text from the number unseen."""
    shared = make.number(
        "+12025550301", office="Admissions", inboxes=("Admissions", "Financial Aid"),
        label="Shared", agents=("fa-staff@example.edu",),
    )  # fmt: skip
    fa_staff, fa = world["other_user"], world["other_office"]
    db.session.commit()
    login(client, "admin@example.edu")
    page = client.get(f"/admin/numbers/{shared.id}").get_data(as_text=True)
    assert f'name="agent_ids" value="{fa_staff.id}" checked' in page and "Finn Staff" in page
    assert f'name="inbox_ids" value="{fa.id}" checked' in page

    admin = world["users"]["admin"]
    assert numbers.update_settings(admin, shared, "agent", {fa_staff.id}, {fa.id})  # kept, ticked
    db.session.commit()
    assert ([o.name for o in shared.inboxes], [a.email for a in shared.agents]) == (
        ["Financial Aid"], ["fa-staff@example.edu"]
    )
    assert numbers.update_settings(admin, shared, "agent", set(), set())  # unticked: taken off
    db.session.commit()
    assert (shared.inboxes, shared.agents) == ([], [])
    # Never added from outside the admin's offices once gone.
    with pytest.raises(FormErrors):
        numbers.update_settings(admin, shared, "agent", {fa_staff.id}, {fa.id})


def test_settings_form_errors_are_inline(client, world):
    login(client, "admin@example.edu")
    number = world["number"]
    response = post(
        client, f"/admin/numbers/{number.id}/settings",
        {"backing": "robot", "inbox_ids": [str(world["other_office"].id)]}, htmx=True,
    )  # fmt: skip
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<form id="settings-form"')
    assert 'id="backing-error">Choose who answers replies: agent or bot.' in fragment
    assert 'id="inboxes-error">Choose inboxes of your offices.' in fragment
    db.session.expire_all()
    assert [o.name for o in db.session.get(ReusableNumber, number.id).inboxes] == ["Admissions"]


def test_edit_number_details(client, world):
    login(client, "admin@example.edu")
    number = world["number"]
    response = post(
        client, f"/admin/numbers/{number.id}",
        {"office_id": str(world["office"].id), "label": "Admissions Front Desk",
         "description": "Main line", "provider": "console"},
    )  # fmt: skip
    assert response.status_code == 303
    switch(client, "standard@example.edu")
    assert from_list(client) == ["Admissions Front Desk · (202) 555-0100"]

    switch(client, "admin@example.edu")
    response = post(
        client, f"/admin/numbers/{number.id}",
        {"office_id": str(world["office"].id), "label": "", "provider": "plivo"},
    )  # fmt: skip
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="label-error">' in page and 'id="provider-error">Choose an enabled SMS provider' in page


def test_deactivate_number(client, world):
    number = world["number"]
    login(client, "admin@example.edu")
    response = post(client, f"/admin/numbers/{number.id}/active", {"active": "0"})
    assert response.status_code == 303
    switch(client, "standard@example.edu")
    assert from_list(client) == []
    with pytest.raises(inbound.InboundError):
        inbound.receive(
            InboundMessage(from_phone="+12025550143", to_phone=number.phone, body="Hi"), "console"
        )
    switch(client, "admin@example.edu")
    assert "Deactivated" in client.get("/admin/numbers").get_data(as_text=True)
    post(client, f"/admin/numbers/{number.id}/active", {"active": "1"})
    switch(client, "standard@example.edu")
    assert from_list(client) == ["Admissions Main · (202) 555-0100"]
    kinds = list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))
    assert kinds == ["number.deactivated", "number.reactivated"]


@pytest.mark.parametrize("form", [{}, {"active": ""}, {"active": "true"}, {"active": "no"}])
def test_an_unknown_active_value_is_refused_and_changes_nothing(client, world, form):
    """Only the buttons' 0 and 1 act: nothing else is taken for deactivating (a number or a user)."""
    login(client, "admin@example.edu")
    number, user = world["number"], world["users"]["standard"]
    for path in (f"/admin/numbers/{number.id}/active", f"/admin/users/{user.id}/active"):
        response = post(client, path, form)
        assert response.status_code == 400
        assert "must be one of: 0, 1" in response.get_data(as_text=True)
    db.session.expire_all()
    assert world["number"].active and world["users"]["standard"].active
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_number_list_shows_only_the_admins_offices(client, world):
    login(client, "admin@example.edu")
    page = client.get("/admin/numbers").get_data(as_text=True)
    assert "Admissions Main" in page and "FA Main" not in page


def test_the_cli_lists_an_agent_or_inbox_named_twice_once(app, setup):
    """`numbers add` with the same --agent (in any case) or --inbox given twice: added, each once."""
    added = app.test_cli_runner().invoke(
        args=["numbers", "add", "+12025550388", "--office", "Admissions", "--provider", "console",
              "--backing", "bot", "--agent", "standard@example.edu", "--agent", "STANDARD@example.edu",
              "--inbox", "Admissions", "--inbox", "admissions"]
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    number = db.session.scalar(select(ReusableNumber).where(ReusableNumber.phone == "+12025550388"))
    assert [agent.email for agent in number.agents] == ["standard@example.edu"]
    assert [office.name for office in number.inboxes] == ["Admissions"]


ADD = ["numbers", "add", "+12025550389", "--office", "Admissions", "--provider", "console",
       "--backing", "agent"]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--description", "D" * 2001], "A description can be at most 2,000 characters."),
        (["--label", "a\nb"], "A label cannot contain control characters"),
        (["--label", "\u202eevil"], "A label cannot contain characters that reverse the direction of text."),
        (["--label", "\u200b"], "A label needs at least one visible character."),
    ],
)
def test_the_cli_refuses_a_label_or_description_the_console_refuses(app, setup, args, error):
    refused = app.test_cli_runner().invoke(args=[*ADD, *args])
    assert refused.exit_code == 1 and error in refused.output, refused.output
    db.session.rollback()
    assert db.session.scalar(select(ReusableNumber).where(ReusableNumber.phone == "+12025550389")) is None


def test_the_cli_takes_a_description_as_long_as_the_console_does(app, setup):
    added = app.test_cli_runner().invoke(args=[*ADD, "--label", "Main", "--description", "D" * 2000])
    assert added.exit_code == 0, added.output


def test_the_cli_refuses_a_deactivated_agent_as_the_console_does(app, setup):
    setup["users"]["standard"].active = False
    db.session.commit()
    refused = app.test_cli_runner().invoke(args=[*ADD, "--agent", "standard@example.edu"])
    assert refused.exit_code == 1
    assert "Sam Standard (standard@example.edu) is deactivated: only active users can be assigned agents" \
        in refused.output, refused.output
    db.session.rollback()
    assert db.session.scalar(select(ReusableNumber).where(ReusableNumber.phone == "+12025550389")) is None


def settings_now(number_id: int) -> tuple:
    """What a settings post could change: backing, agents, inboxes, and the audit log."""
    db.session.expire_all()
    number = db.session.get(ReusableNumber, number_id)
    return (
        number.backing,
        sorted(a.email for a in number.agents),
        sorted(o.name for o in number.inboxes),
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
    )


@pytest.fixture
def staffed(world, make):
    """Admissions Main with Sam as its assigned agent; a deactivated member of Admissions."""
    world["number"].agents = [world["users"]["standard"]]
    make.user("gone@example.edu", "standard", ("Admissions",), name="Gil Gone").active = False
    db.session.commit()
    return world


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("agent_ids", "abc", 'id="agents-error">The form sent “abc”, which is not one of the listed agents'),
        ("agent_ids", "١", 'id="agents-error">The form sent “١”, which is not one of the listed agents'),
        ("agent_ids", "99999999999", 'id="agents-error">The form sent “99999999999”, which is not one of'),
        ("agent_ids", "424242", 'id="agents-error">Choose agents from your offices.'),
        ("agent_ids", "fa-staff", 'id="agents-error">Choose agents from your offices.'),
        ("agent_ids", "gone", 'id="agents-error">Gil Gone is deactivated: only active users can be'),
        ("inbox_ids", "Admissions", 'id="inboxes-error">The form sent “Admissions”, which is not one of the '
                                    "listed inboxes"),
        ("inbox_ids", "424242", 'id="inboxes-error">Choose inboxes of your offices.'),
        ("inbox_ids", "other_office", 'id="inboxes-error">Choose inboxes of your offices.'),
    ],
)  # fmt: skip
def test_settings_refuse_ids_they_cannot_use_and_keep_the_rest_of_the_form(
    client, staffed, field, value, error
):
    """A bad id among the checkboxes is refused by name, never dropped: dropping "abc" from the
    agents would have unassigned every agent. What the admin chose otherwise comes back checked."""
    world = staffed
    ids = {
        "fa-staff": str(world["other_user"].id),
        "gone": str(db.session.scalar(select(User.id).where(User.email == "gone@example.edu"))),
        "other_office": str(world["other_office"].id),
    }
    number = world["number"]
    before = settings_now(number.id)
    login(client, "admin@example.edu")
    limited = str(world["users"]["limited"].id)
    form = {"backing": "bot", "agent_ids": [limited], "inbox_ids": [str(world["office"].id)]}
    form[field] = [*form[field], ids.get(value, value)]
    for htmx, status in ((False, 422), (True, 200)):
        response = post(client, f"/admin/numbers/{number.id}/settings", form, htmx=htmx)
        assert response.status_code == status
        page = response.get_data(as_text=True)
        assert error in page
        assert 'value="bot" checked' in page  # the admin's choices, as they made them
        assert f'name="agent_ids" value="{limited}" checked' in page
        assert f'name="inbox_ids" value="{world["office"].id}" checked' in page
        assert settings_now(number.id) == before


def test_new_number_refuses_ids_that_are_not_ids(client, world):
    login(client, "admin@example.edu")
    form = {"phone": "+12025550300", "office_id": str(world["office"].id), "label": "Scholarships",
            "provider": "console", "backing": "agent", "agent_ids": ["x1"], "inbox_ids": ["🙂"]}  # fmt: skip
    response = post(client, "/admin/numbers/new", form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="agents-error">The form sent “x1”' in page and 'id="inboxes-error">The form sent “🙂”' in page
    assert 'value="Scholarships"' in page
    assert db.session.scalar(select(ReusableNumber.id).where(ReusableNumber.phone == "+12025550300")) is None


@pytest.mark.parametrize(("value", "error"), [("", "Choose the office that owns this number."),
                                              ("abc", "Choose one of your offices."),
                                              ("other_office", "Choose one of your offices.")])  # fmt: skip
def test_number_details_refuse_an_office_id_they_cannot_use(client, world, value, error):
    login(client, "admin@example.edu")
    number = world["number"]
    office_id = str(world["other_office"].id) if value == "other_office" else value
    response = post(client, f"/admin/numbers/{number.id}",
                    {"office_id": office_id, "label": "Renamed", "provider": "console"})  # fmt: skip
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="office-error">{error}' in page and 'value="Renamed"' in page
    db.session.expire_all()
    assert db.session.get(ReusableNumber, number.id).label == "Admissions Main"


@pytest.mark.parametrize(
    ("label", "error"),
    [("Main\nLine", "A label cannot contain control characters"),
     ("\u202eniaM", "A label cannot contain characters that reverse the direction of text"),
     ("\u200b", "A label needs at least one visible character")],
)  # fmt: skip
def test_the_console_refuses_a_label_the_commands_refuse(client, world, label, error):
    """A label is a name agents read: the console checks it as `numbers add` does."""
    login(client, "admin@example.edu")
    form = {"phone": "+12025550300", "office_id": str(world["office"].id), "label": label,
            "provider": "console", "backing": "agent"}  # fmt: skip
    response = post(client, "/admin/numbers/new", form)
    assert response.status_code == 422
    assert f'id="label-error">{error}' in response.get_data(as_text=True)
    assert db.session.scalar(select(ReusableNumber.id).where(ReusableNumber.phone == "+12025550300")) is None
    renamed = post(client, f"/admin/numbers/{world['number'].id}",
                   {"office_id": str(world["office"].id), "label": label, "provider": "console"})  # fmt: skip
    assert renamed.status_code == 422 and f'id="label-error">{error}' in renamed.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ReusableNumber, world["number"].id).label == "Admissions Main"
