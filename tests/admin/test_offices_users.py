"""Offices and users in the admin console: the rules, through the services and through the pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.admin.conftest import post
from tests.conftest import PASSWORD, csrf_token, login
from webapp.extensions import db
from webapp.models import AuditEvent, Conversation, Message, Office, User
from webapp.services import directory
from webapp.services.admin import Forbidden, FormErrors, NotFound, offices, users
from webapp.services.directory import DirectoryError

AUTOFOCUS = re.compile(r"<[^<>]*\sautofocus[\s>][^<>]*>?")


def audit_kinds() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))


# ---- Offices ----


def test_create_office_makes_the_admin_a_member_and_is_audited(world):
    admin = world["users"]["admin"]
    office = offices.create_office(admin, "  Registrar ", "Registrar: call us.")
    db.session.commit()
    assert office.name == "Registrar"
    assert admin in office.members
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "office.created"))
    assert event.actor_id == admin.id and "Registrar" in event.summary
    assert [o.name for o in event.offices] == ["Registrar"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Enter the office's name."),
        ("admissions", "An office named “admissions” already exists."),
        (" Financial \u00a0 Aid ", "An office named “Financial Aid” already exists."),  # as a page shows it
        # Names that read as another office's on every page: case in any script, invisible characters.
        ("Admissions\u200b", "An office named “Admissions\u200b” already exists."),
        ("Ad\u00admissions", "An office named “Ad\u00admissions” already exists."),
        ("Admissions\u3164", "An office named “Admissions\u3164” already exists."),
        ("Admissions\u034f", "An office named “Admissions\u034f” already exists."),
        ("ＡＤＭＩＳＳＩＯＮＳ", "An office named “ＡＤＭＩＳＳＩＯＮＳ” already exists."),
        ("x" * 121, "An office name can be at most 120 characters."),
        ("Office\nAid", "An office name cannot contain control characters, such as a line break or a tab."),
        ("\u200b\u200b", "An office name needs at least one visible character."),
    ],
)
def test_create_office_refuses_bad_names(world, name, message):
    with pytest.raises(FormErrors) as raised:
        offices.create_office(world["users"]["admin"], name)
    assert raised.value.errors == {"name": message}


def test_office_names_differ_by_more_than_case_in_any_script(app, world):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["offices", "create", "Études"]).exit_code == 0
    for same in ("ÉTUDES", "études"):
        refused = runner.invoke(args=["offices", "create", same])
        assert refused.exit_code == 1 and f"An office named '{same}' already exists." in refused.output
    found = runner.invoke(args=["offices", "retention", "ÉTUDES", "--days", "30"])
    assert found.exit_code == 0 and "Études keeps message text 30 days" in found.output
    with pytest.raises(FormErrors) as raised:  # nor in the console, renaming another office to it
        offices.update_office(world["users"]["admin"], world["office"], "éTUDES", "")
    assert raised.value.errors == {"name": "An office named “éTUDES” already exists."}


def test_offices_kept_with_names_that_read_alike_are_not_guessed_between(app, world):
    """Kept before names had to differ: the name written exactly finds its office, a name that
    reads as both is refused, and each office still saves under its own name."""
    db.session.add(Office(name="ADMISSIONS"))
    db.session.commit()
    runner = app.test_cli_runner()
    exact = runner.invoke(args=["offices", "retention", "ADMISSIONS", "--days", "30"])
    assert exact.exit_code == 0 and "ADMISSIONS keeps message text 30 days" in exact.output
    both = runner.invoke(args=["offices", "retention", "admissions", "--days", "30"])
    assert both.exit_code == 1
    assert "Several offices have names that read as 'admissions' ('Admissions', 'ADMISSIONS')" in both.output
    offices.update_office(world["users"]["admin"], world["office"], "Admissions", "Admissions: call us.")
    db.session.commit()
    assert db.session.get(Office, world["office"].id).help_text == "Admissions: call us."


def test_an_admin_joins_an_office_made_on_the_command_line_and_manages_it(app, client, world):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["offices", "create", "Registrar"])
    assert created.exit_code == 0 and "(users join EMAIL --office Registrar)" in created.stderr
    login(client, "admin@example.edu")
    assert "Registrar" not in client.get("/admin/offices").get_data(as_text=True)

    joined = runner.invoke(args=["users", "join", "ADMIN@example.edu", "--office", "registrar"])
    assert joined.exit_code == 0, joined.output
    assert joined.stdout == "admin@example.edu joined Registrar.\n"
    registrar = db.session.scalar(select(Office).where(Office.name == "Registrar"))
    assert "Registrar" in client.get("/admin/offices").get_data(as_text=True)
    assert client.get(f"/admin/offices/{registrar.id}").status_code == 200
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert "Alex Admin: added to Registrar on the command line" in audit

    again = runner.invoke(args=["users", "join", "admin@example.edu", "--office", "Registrar"])
    assert again.exit_code == 0 and "nothing changed" in again.output
    refusals = [(["nobody@example.edu", "--office", "Registrar"], "No user with email"),
                (["admin@example.edu", "--office", "Bursar"], "No office named 'Bursar'")]  # fmt: skip
    for args, said in refusals:
        refused = runner.invoke(args=["users", "join", *args])
        assert refused.exit_code == 1 and said in refused.output


def test_an_office_name_keeps_one_space_between_words_everywhere(app, world):
    created = app.test_cli_runner().invoke(args=["offices", "create", "Graduate   Admissions"])
    assert created.exit_code == 0 and "Created office 'Graduate Admissions'." in created.output
    joined = app.test_cli_runner().invoke(
        args=["users", "create", "gia@example.edu", "--role", "standard", "--password", PASSWORD,
              "--office", "graduate  admissions"]
    )  # fmt: skip
    assert joined.exit_code == 0, joined.output
    db.session.expire_all()
    gia = db.session.scalar(select(User).where(User.email == "gia@example.edu"))
    assert [o.name for o in gia.offices] == ["Graduate Admissions"]
    admin, office = world["users"]["admin"], world["office"]
    assert offices.update_office(admin, office, "Undergraduate    Admissions", office.help_text)
    assert office.name == "Undergraduate Admissions"


def test_an_office_named_twice_on_the_command_line_is_joined_and_audited_once(app, world):
    created = app.test_cli_runner().invoke(args=["offices", "create", "Registrar"])
    assert created.exit_code == 0, created.output
    result = app.test_cli_runner().invoke(
        args=["users", "create", "y@example.edu", "--role", "limited", "--password", PASSWORD,
              "--office", "Registrar", "--office", "registrar"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == "y@example.edu"))
    assert [office.name for office in user.offices] == ["Registrar"]
    entry = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "user.created"))
    assert entry.summary.endswith(" in Registrar on the command line"), entry.summary
    assert entry.detail["offices"] == [user.offices[0].id]


def test_rename_office_and_help_reply(world):
    admin, office = world["users"]["admin"], world["office"]
    assert offices.update_office(admin, office, "Undergraduate Admissions", "Call 555-0100")
    db.session.commit()
    assert office.name == "Undergraduate Admissions" and office.help_text == "Call 555-0100"
    assert not offices.update_office(admin, office, "Undergraduate Admissions", "Call 555-0100")
    with pytest.raises(FormErrors) as raised:
        offices.update_office(admin, office, "Financial Aid", "x" * 321)
    assert set(raised.value.errors) == {"name", "help_text"}
    with pytest.raises(FormErrors) as raised:  # the HELP reply is a text: none carries a bell
        offices.update_office(admin, office, "Undergraduate Admissions", "Call 555-0100\x07")
    assert raised.value.errors == {
        "help_text": "The text holds a control character (U+0007) that no message can carry; remove it."
    }
    assert audit_kinds() == ["office.updated"]
    # A HELP reply that would look empty on a phone is no reply: the default one is sent instead.
    assert offices.update_office(admin, office, "Undergraduate Admissions", "\u2800\u2800")
    assert office.help_text == ""


def test_office_pages_list_members_and_create(client, world):
    login(client, "admin@example.edu")
    page = client.get(f"/admin/offices/{world['office'].id}").get_data(as_text=True)
    for name in ("Alex Admin", "Sam Standard", "Lee Limited"):
        assert name in page
    assert "Fay Admin" not in page

    response = post(client, "/admin/offices", {"name": "Registrar", "help_text": ""})
    assert response.status_code == 303
    office = db.session.scalar(select(Office).where(Office.name == "Registrar"))
    assert response.headers["Location"] == f"/admin/offices/{office.id}"
    assert "Office Registrar created." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_an_office_page_leads_to_its_numbers_and_to_adding_users_and_numbers(client, world, make):
    """A new office's next steps start from its page: its users and numbers come with it chosen."""
    login(client, "admin@example.edu")
    office_id = world["office"].id
    page = client.get(f"/admin/offices/{office_id}").get_data(as_text=True)
    number = world["number"]
    assert f'href="/admin/numbers/{number.id}">{number.display_label}</a>' in page
    assert "FA Main" not in page  # another office's number
    assert f'href="/admin/users/new?office={office_id}">Add a user</a>' in page
    assert f'href="/admin/numbers/new?office={office_id}">Add a number</a>' in page
    assert f'href="/admin/offices/{office_id}/compliance"' in page

    # An admin of two offices gets the one whose page they came from.
    make.user("both@example.edu", "admin", ("Admissions", "Financial Aid"), name="Bo Both")
    client = client.application.test_client()
    login(client, "both@example.edu")
    other = world["other_office"].id
    for office, unchosen in ((office_id, other), (other, office_id)):
        checked = client.get(f"/admin/users/new?office={office}").get_data(as_text=True)
        assert re.search(rf'name="office_ids" value="{office}"\s+checked', checked)
        assert not re.search(rf'name="office_ids" value="{unchosen}"\s+checked', checked)
        chosen = client.get(f"/admin/numbers/new?office={office}").get_data(as_text=True)
        assert re.search(rf'<option value="{office}"\s+selected', chosen)
    # Without one, or with one that is not theirs, nothing is chosen for them.
    for query in ("", "?office=nonsense", "?office=99999"):
        users_page = client.get(f"/admin/users/new{query}").get_data(as_text=True)
        assert not re.search(r'name="office_ids" value="\d+"\s+checked', users_page)
        numbers_page = client.get(f"/admin/numbers/new{query}").get_data(as_text=True)
        assert not re.search(r'<option value="\d+"\s+selected', numbers_page)


def test_counts_of_members_say_they_count_active_ones(client, world):
    """The office's page lists a deactivated member too; the counts elsewhere say what they count."""
    world["users"]["limited"].active = False
    db.session.commit()
    login(client, "admin@example.edu")
    assert "2 active members" in client.get("/admin/").get_data(as_text=True)
    assert ">Active members</th>" in client.get("/admin/offices").get_data(as_text=True)
    page = client.get(f"/admin/offices/{world['office'].id}").get_data(as_text=True)
    assert "Lee Limited" in page and "Deactivated" in page


def test_office_form_errors_are_inline_and_change_nothing(client, world):
    login(client, "admin@example.edu")
    response = post(client, "/admin/offices", {"name": "Financial Aid"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="name-error">An office named “Financial Aid” already exists.' in page
    assert 'aria-invalid="true"' in page

    response = post(client, "/admin/offices", {"name": ""}, htmx=True)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith("<form") and "<html" not in fragment
    assert "Enter the office&#39;s name." in fragment
    assert db.session.scalar(select(func.count()).select_from(Office)) == 2
    assert audit_kinds() == []


def test_rename_on_page(client, world):
    login(client, "admin@example.edu")
    office_id = world["office"].id
    response = post(
        client,
        f"/admin/offices/{office_id}",
        {"name": "Admissions Office", "help_text": "Hi"},
        htmx=True,
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/admin/offices/{office_id}"
    assert db.session.get(Office, office_id).name == "Admissions Office"


# ---- Users ----


def test_create_user_with_role_and_offices(world):
    admin = world["users"]["admin"]
    user = users.create_user(
        admin, "Nia New", " Nia@Example.edu ", "limited", {world["office"].id}, "long-password"
    )
    db.session.commit()
    assert (user.email, user.role, [o.name for o in user.offices]) == (
        "nia@example.edu", "limited", ["Admissions"],
    )  # fmt: skip
    assert user.check_password("long-password")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "user.created"))
    assert "Nia New" in event.summary and "Texting - Limited" in event.summary
    assert "long-password" not in str(event.detail) + event.summary


def test_create_user_reports_every_bad_field(world):
    with pytest.raises(FormErrors) as raised:
        users.create_user(world["users"]["admin"], "", "not-an-email", "owner", set(), "short")
    assert raised.value.errors == {
        "name": "Enter the person's name.",
        "email": "Enter an email address, like name@college.edu.",
        "role": "Choose a role.",
        "offices": "Choose at least one office.",
        "password": "A password needs at least 8 characters.",
    }


@pytest.mark.parametrize(
    ("name", "message"),
    [("\u200b", "A name needs at least one visible character."),
     ("Nia\x1b[31m", "A name cannot contain control characters, such as a line break or a tab.")],
)
def test_create_user_refuses_a_name_that_cannot_be_shown(world, name, message):
    with pytest.raises(FormErrors) as raised:
        users.create_user(world["users"]["admin"], name, "nia@example.edu", "limited",
                          {world["office"].id}, "long-password")  # fmt: skip
    assert raised.value.errors == {"name": message}
    with pytest.raises(DirectoryError, match=re.escape(message)):
        directory.create_user("nia@example.edu", "limited", "long-password", name=name)


def test_an_email_with_a_control_character_or_a_lone_surrogate_is_no_email(world):
    for email in ("nia\x00@example.edu", "nia@exam\x7fple.edu", "\ud800@example.edu", "nia\x9b@example.edu"):
        with pytest.raises(DirectoryError, match="is not an email address"):
            directory.create_user(email, "limited", "long-password")
    assert not directory.EMAIL_PATTERN.match("nia@example.edu\n")


@pytest.mark.parametrize(
    ("name", "problem"),
    [("Ana\u2028Díaz", "cannot contain control characters"), ("\u202eanA", "reverse the direction"),
     ("\u200b \u2060", "needs at least one visible character"), ("李小龍", None), ("ناصر", None),
     ("Zoë 👍🏽", None), ("🫎", None), ("Ana\u0301", None), ("हिंदी", None), ("김민준", None),
     # Letters and marks that show nothing: Hangul fillers, the blank braille cell, the grapheme joiner.
     ("\u3164", "needs at least one visible character"), ("\u115f\u1160", "needs at least one visible"),
     ("\u2800", "needs at least one visible character"), ("\u034f\u034f", "needs at least one visible"),
     ("\u0301", "needs at least one visible character")],
)
def test_names_in_any_script_or_emoji_are_shown_and_tricks_are_not(name, problem):
    found = directory.name_problem(name)
    assert (found is None) if problem is None else (problem in found)


def test_a_name_given_on_the_command_line_is_trimmed_before_it_is_checked(world):
    user = directory.create_user("nia@example.edu", "limited", "long-password", name="Nia Díaz\n")
    assert user.name == "Nia Díaz"


def test_a_form_sent_back_with_several_errors_focuses_the_first_on_the_page(client, world):
    """The errors come in the service's order (offices before password); focus goes by the page's
    order, and to one field only: the plain page and the htmx fragment alike."""
    login(client, "admin@example.edu")
    assert not AUTOFOCUS.search(client.get("/admin/users/new").get_data(as_text=True))
    for htmx in (False, True):
        form = {"name": "", "email": "not-an-email", "role": "owner", "password": "short"}
        page = post(client, "/admin/users/new", form, htmx=htmx).get_data(as_text=True)
        assert page.count('aria-invalid="true"') == 5
        focused = AUTOFOCUS.findall(page)
        assert len(focused) == 1 and 'id="user-name"' in focused[0]

    form = {"name": "Nia", "email": "nia@example.edu", "role": "standard", "password": "short"}
    focused = AUTOFOCUS.findall(post(client, "/admin/users/new", form).get_data(as_text=True))
    assert len(focused) == 1 and "<fieldset" in focused[0]  # Offices, a group: before Password


def test_create_user_refuses_a_taken_email_precisely(client, world):
    login(client, "admin@example.edu")
    before = db.session.scalar(select(func.count()).select_from(User))
    response = post(
        client,
        "/admin/users/new",
        {"name": "Sam Again", "email": "STANDARD@example.edu", "role": "standard",
         "office_ids": [str(world["office"].id)], "password": "long-password"},
    )  # fmt: skip
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert (
        '<p class="field-error" id="email-error">standard@example.edu already has an account; '
        "each person signs in with one email.</p>" in page
    )
    assert 'value="Sam Again"' in page  # what was typed stays
    assert db.session.scalar(select(func.count()).select_from(User)) == before
    assert audit_kinds() == []


def test_create_user_refuses_another_offices_id(world):
    with pytest.raises(FormErrors) as raised:
        users.create_user(
            world["users"]["admin"], "Nia", "nia@example.edu", "standard",
            {world["other_office"].id}, "long-password",
        )  # fmt: skip
    assert raised.value.errors == {"offices": "Choose offices you manage."}


def test_new_user_signs_in_after_creation_on_the_page(client, world):
    login(client, "admin@example.edu")
    response = post(
        client,
        "/admin/users/new",
        {"name": "Nia New", "email": "nia@example.edu", "role": "standard",
         "office_ids": [str(world["office"].id)], "password": "long-password"},
        htmx=True,
    )  # fmt: skip
    assert response.status_code == 204
    user = db.session.scalar(select(User).where(User.email == "nia@example.edu"))
    assert response.headers["HX-Redirect"] == f"/admin/users/{user.id}"
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    assert login(client, "nia@example.edu", "long-password").status_code == 302


def test_change_role_and_offices_of_a_user_in_two_offices(world, make):
    both = make.user("both@example.edu", "standard", ("Admissions", "Financial Aid"), name="Bo Both")
    with pytest.raises(Forbidden):  # an admin of Admissions only may not change them at all
        users.update_user(world["users"]["admin"], both, "Bo Both", "limited", set())
    admin = make.user("two@example.edu", "admin", ("Admissions", "Financial Aid"), name="Tess Two")
    other = {world["other_office"].id}
    assert users.update_user(admin, both, "Bo Both", "limited", other)  # leaves Admissions
    db.session.commit()
    assert both.role == "limited"
    assert [o.name for o in both.offices] == ["Financial Aid"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "user.updated"))
    assert "Texting - Standard → Texting - Limited" in event.summary
    assert "removed from Admissions" in event.summary
    # Both offices see the change in their audit log.
    assert {o.name for o in event.offices} == {"Admissions", "Financial Aid"}


def test_a_user_keeps_at_least_one_office(world):
    standard = world["users"]["standard"]
    with pytest.raises(FormErrors) as raised:
        users.update_user(world["users"]["admin"], standard, "Sam", "standard", set())
    assert raised.value.errors == {"offices": "A user needs at least one office."}


def test_an_admin_cannot_remove_their_own_admin_role(client, world):
    admin = world["users"]["admin"]
    with pytest.raises(FormErrors) as raised:
        users.update_user(admin, admin, admin.name, "standard", {world["office"].id})
    assert raised.value.errors == {
        "role": "You cannot remove your own admin role; ask another admin to do it."
    }
    login(client, "admin@example.edu")
    response = post(
        client, f"/admin/users/{admin.id}",
        {"name": "Alex Admin", "role": "limited", "office_ids": [str(world["office"].id)]},
    )  # fmt: skip
    assert response.status_code == 422
    assert "You cannot remove your own admin role" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, admin.id).role == "admin"
    assert audit_kinds() == []


def test_an_office_keeps_an_administrator(client, world, make):
    """Tess is the only admin of Registrar: leaving it would leave nobody to manage it, so she may
    not (the form says so and nothing changes) until someone else is its admin; leaving an office
    that has another admin is fine."""
    make.office("Registrar")
    tess = make.user("tess@example.edu", "admin", ("Admissions", "Registrar"), name="Tess Two")
    login(client, "tess@example.edu")
    keep_admissions = {"name": "Tess Two", "role": "admin", "office_ids": [str(world["office"].id)]}
    response = post(client, f"/admin/users/{tess.id}", keep_admissions)
    assert response.status_code == 422
    assert "Registrar would have no administrator left" in response.get_data(as_text=True)
    db.session.expire_all()
    assert sorted(o.name for o in db.session.get(User, tess.id).offices) == ["Admissions", "Registrar"]

    make.user("rita@example.edu", "admin", ("Registrar",), name="Rita Reg")
    assert post(client, f"/admin/users/{tess.id}", keep_admissions).status_code == 303
    db.session.expire_all()
    assert [o.name for o in db.session.get(User, tess.id).offices] == ["Admissions"]


def test_an_admin_can_change_another_admins_role(world, make):
    second = make.user("second@example.edu", "admin", name="Second Admin")
    assert users.update_user(world["users"]["admin"], second, second.name, "standard", {world["office"].id})
    assert second.role == "standard"


def test_deactivated_user_cannot_sign_in_and_history_stays(client, world):
    standard = world["users"]["standard"]
    number = world["number"]
    conversation = Conversation(number_id=number.id, contact_phone="+12025550143")
    db.session.add(conversation)
    db.session.flush()
    db.session.add(
        Message(conversation_id=conversation.id, direction="outbound", body="Hello",
                author_kind="agent", author_user_id=standard.id, status="sent")
    )  # fmt: skip
    db.session.commit()

    other = client.application.test_client()
    login(other, "standard@example.edu")  # a session that is open when the user is deactivated
    assert other.get("/inbox").status_code == 200

    login(client, "admin@example.edu")
    response = post(client, f"/admin/users/{standard.id}/active", {"active": "0"})
    assert response.status_code == 303
    assert "is deactivated" in client.get(response.headers["Location"]).get_data(as_text=True)

    assert other.get("/inbox").status_code == 302  # the open session ends
    assert login(other, "standard@example.edu").status_code == 401
    db.session.expire_all()
    message = db.session.scalar(select(Message).where(Message.body == "Hello"))
    assert message.author_user_id == standard.id  # the history stays, with its author
    assert db.session.get(User, standard.id) is not None

    response = post(client, f"/admin/users/{standard.id}/active", {"active": "1"})
    assert response.status_code == 303
    assert login(client.application.test_client(), "standard@example.edu").status_code == 302
    assert audit_kinds() == ["user.deactivated", "user.reactivated"]


def test_an_admin_cannot_deactivate_themselves(client, world):
    admin = world["users"]["admin"]
    with pytest.raises(FormErrors):
        users.set_active(admin, admin, False)
    login(client, "admin@example.edu")
    page = client.get(f"/admin/users/{admin.id}").get_data(as_text=True)
    assert "You cannot deactivate your own account." in page
    assert "Deactivate user" not in page
    response = post(client, f"/admin/users/{admin.id}/active", {"active": "0"}, htmx=True)
    assert response.status_code == 200
    assert 'id="active-error">You cannot deactivate your own account.' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, admin.id).active
    assert client.get("/admin/").status_code == 200


def test_set_a_new_password(client, world):
    standard = world["users"]["standard"]
    login(client, "admin@example.edu")
    response = post(client, f"/admin/users/{standard.id}/password", {"new_password": "short"})
    assert response.status_code == 422
    assert 'id="new_password-error">A password needs at least 8 characters.' in response.get_data(
        as_text=True
    )

    response = post(client, f"/admin/users/{standard.id}/password", {"new_password": "brand-new-password"})
    assert response.status_code == 303
    other = client.application.test_client()
    assert login(other, "standard@example.edu", PASSWORD).status_code == 401
    assert login(other, "standard@example.edu", "brand-new-password").status_code == 302
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "user.password_set"))
    assert "brand-new-password" not in event.summary + str(event.detail)


def test_user_list_shows_only_the_admins_offices(client, world):
    login(client, "admin@example.edu")
    page = client.get("/admin/users").get_data(as_text=True)
    assert "Sam Standard" in page and "Lee Limited" in page
    assert "Finn Staff" not in page and "Fay Admin" not in page
    with pytest.raises(NotFound):
        users.user_for_admin(world["users"]["admin"], world["other_user"].id)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["users", "create", "long@example.edu", "--role", "standard", "--password", PASSWORD,
          "--name", "N" * 121, "--office", "Admissions"], "A name can be at most 120 characters."),
        (["users", "create", "a" * 250 + "@example.edu", "--role", "standard", "--password", PASSWORD,
          "--office", "Admissions"], "is not an email address"),
        (["numbers", "add", "+12025550377", "--office", "Admissions", "--provider", "console",
          "--backing", "agent", "--label", "L" * 121], "A label can be at most 120 characters."),
    ],
)  # fmt: skip
def test_the_command_line_refuses_what_the_columns_cannot_hold(app, world, args, error):
    """As the console does: a clear error and exit 1, where PostgreSQL refused the row."""
    before = db.session.scalar(select(func.count()).select_from(User))
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1 and error in result.output, result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == before


def test_the_command_line_takes_a_short_password_with_a_warning(app, world, client):
    """The operator can reach the database anyway: a short password is their call, said on stderr
    so that the output a script reads is only the result. A blank one is still refused."""
    args = ["users", "create", "quick@example.edu", "--role", "standard", "--password", "pw",
            "--office", "Admissions"]  # fmt: skip
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "Created Texting - Standard user quick@example.edu."
    assert "shorter than 8 characters" in result.stderr
    assert login(client, "quick@example.edu", "pw").status_code == 302

    blank = app.test_cli_runner().invoke(args=[*args[:2], "blank@example.edu", *args[3:5], "--password",
                                               "        ", *args[7:]])  # fmt: skip
    assert blank.exit_code == 1 and "cannot be empty" in blank.output
    assert db.session.scalar(select(User).where(User.email == "blank@example.edu")) is None


def test_the_command_line_warns_of_a_user_in_no_office(app, world):
    args = ["users", "create", "loose@example.edu", "--role", "standard", "--password", PASSWORD]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "Created Texting - Standard user loose@example.edu."
    assert "belongs to no office" in result.stderr
    with_office = app.test_cli_runner().invoke(args=[*args[:2], "placed@example.edu", *args[3:],
                                                     "--office", "Admissions"])  # fmt: skip
    assert with_office.exit_code == 0 and with_office.stderr == ""


def test_the_command_line_refuses_text_that_was_not_utf8_in_one_line(app, world, tmp_path):
    """A Latin-1 terminal's "Café" reaches Python as "Caf\\udce9" (a stand-in for the byte). The
    list's path may be any bytes, as file names on disk are."""
    before = db.session.scalar(select(func.count()).select_from(Office))
    result = app.test_cli_runner().invoke(args=["offices", "create", "Caf\udce9"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: 'NAME' is not valid UTF-8 text; check the terminal's or the script's encoding."
    ]
    assert db.session.scalar(select(func.count()).select_from(Office)) == before
    args = ["users", "create", "nia@example.edu", "--role", "limited", "--password", PASSWORD]
    result = app.test_cli_runner().invoke(args=[*args, "--office", "Admissions\udce9"])
    assert result.exit_code == 1 and result.output.startswith("Error: '--office' is not valid UTF-8")
    listing = tmp_path / "liste-d\udce9t\u00e9.csv"
    listing.write_text("first_name,last_name,phone\nAna,Ruiz,2025550143\n")
    args = ["campaigns", "import", "Fall", str(listing), "--office", "Admissions"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output


def test_the_command_line_refuses_a_campaign_name_too_long(app, world, tmp_path):
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("first_name,last_name,phone\nAna,Ruiz,2025550143\n")
    args = ["campaigns", "import", "C" * 201, str(csv_file), "--office", "Admissions"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1 and "at most 200 characters" in result.output


@pytest.mark.parametrize("bad", ["abc", "", "²", "1e3"])
def test_user_forms_refuse_office_ids_that_are_not_ids(client, world, make, bad):
    """An office id the form cannot have sent is refused by name, never skipped: skipping it would
    take the user out of an office nobody unticked. The form comes back as the admin filled it."""
    admin = world["users"]["admin"]
    registrar = offices.create_office(admin, "Registrar")  # the admin's second office
    both = make.user("both@example.edu", "standard", ("Admissions", "Registrar"), name="Bo Both")
    db.session.commit()
    login(client, "admin@example.edu")
    error = f'id="offices-error">The form sent “{bad}”, which is not one of the listed offices'
    kinds = audit_kinds()

    chosen = [str(world["office"].id), bad]
    form = {"name": "Bo B", "role": "limited", "office_ids": chosen}
    response = post(client, f"/admin/users/{both.id}", form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert error in page and 'value="Bo B"' in page
    assert f'name="office_ids" value="{world["office"].id}" checked' in page
    assert f'name="office_ids" value="{registrar.id}" checked' not in page  # as the admin left it
    db.session.expire_all()
    assert (both.name, both.role, sorted(o.name for o in both.offices)) == (
        "Bo Both", "standard", ["Admissions", "Registrar"],
    )  # fmt: skip

    response = post(client, "/admin/users/new", {"name": "Nia", "email": "nia@example.edu",
                                                 "role": "standard", "office_ids": chosen,
                                                 "password": "long-password"})  # fmt: skip
    assert response.status_code == 422 and error in response.get_data(as_text=True)
    assert db.session.scalar(select(User.id).where(User.email == "nia@example.edu")) is None
    assert audit_kinds() == kinds
