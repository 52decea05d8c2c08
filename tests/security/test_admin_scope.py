"""An admin's authority ends at their offices: an admin changes a user (name, password, role,
offices, deactivation) only when every office that user reaches is one of the admin's own.

Otherwise an admin of Admissions could set the password of someone who is also in Financial Aid,
sign in as them and read Financial Aid's conversations.
"""

from __future__ import annotations

import threading
import time

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.admin import conftest as admin_fixtures
from tests.admin.conftest import post
from tests.conftest import PASSWORD, Factory, csrf_token, login
from webapp.extensions import db
from webapp.models import AuditEvent, User
from webapp.services import directory
from webapp.services.admin import Forbidden, users

world = admin_fixtures.world

ATTACKER_PASSWORD = "chosen-by-the-attacker"
REASON = (
    "Also a member of Financial Aid, which you do not administer: only an administrator of all "
    "of this user&#39;s offices can change them."
)


@pytest.fixture
def both(world: dict, make: Factory) -> User:
    """A standard user of Admissions and Financial Aid."""
    return make.user("both@example.edu", "standard", ("Admissions", "Financial Aid"), name="Bo Both")


def state(user_id: int) -> tuple:
    """What an admin could change about a user, and how many changes the audit log holds."""
    db.session.expire_all()
    user = db.session.get(User, user_id)
    return (
        user.name,
        user.role,
        user.active,
        user.password_hash,
        sorted(office.name for office in user.offices),
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
    )


def signs_in(client: FlaskClient, email: str, password: str) -> bool:
    return login(client.application.test_client(), email, password).status_code == 302


CHANGES = {
    "password": ("password", {"new_password": ATTACKER_PASSWORD}),
    "deactivate": ("active", {"active": "0"}),
    "role": ("", {"name": "Bo Both", "role": "admin", "office_ids": ["{admissions}"]}),
    "offices": ("", {"name": "Bo Both", "role": "standard", "office_ids": []}),
    "name": ("", {"name": "Someone Else", "role": "standard", "office_ids": ["{admissions}"]}),
}


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
@pytest.mark.parametrize("change", CHANGES)
def test_an_admin_of_one_office_cannot_change_a_user_also_in_another(client, world, both, change, htmx):
    login(client, "admin@example.edu")  # Admissions only
    before = state(both.id)
    action, data = CHANGES[change]
    data = {
        key: [v.format(admissions=world["office"].id) for v in value] if isinstance(value, list) else value
        for key, value in data.items()
    }
    path = f"/admin/users/{both.id}" + (f"/{action}" if action else "")
    response = post(client, path, data, htmx=htmx)

    assert response.status_code == 403
    assert REASON in response.get_data(as_text=True)
    assert state(both.id) == before
    if htmx:  # shown in place of the page's main part: htmx swaps no 4xx by itself
        assert response.headers["HX-Retarget"] == "#main"
    # The attacker cannot become Bo: the password they chose does not sign in, Bo's own still does.
    assert not signs_in(client, "both@example.edu", ATTACKER_PASSWORD)
    assert signs_in(client, "both@example.edu", PASSWORD)


def test_the_console_shows_such_a_user_read_only_and_says_why(client, world, both, make):
    login(client, "admin@example.edu")
    listing = client.get("/admin/users").get_data(as_text=True)
    rows = {row.split("</tr>")[0] for row in listing.split("<tr")}
    bo_row = next(row for row in rows if "Bo Both" in row)
    sam_row = next(row for row in rows if "Sam Standard" in row)
    assert "View only" in bo_row and "View only" not in sam_row

    page = client.get(f"/admin/users/{both.id}").get_data(as_text=True)
    assert "View only" in page
    assert REASON in page
    assert "Admissions, Financial Aid" in page  # what they are, read-only
    for action in ("Save changes", "Set password", "Deactivate user", "Reactivate user"):
        assert action not in page
    for path in ("", "/password", "/active"):
        assert f'action="/admin/users/{both.id}{path}"' not in page

    # A user only of the admin's offices keeps the forms.
    sam = client.get(f"/admin/users/{world['users']['standard'].id}").get_data(as_text=True)
    assert "Set password" in sam and "View only" not in sam

    # An admin of both of Bo's offices manages Bo.
    make.user("two-admin@example.edu", "admin", ("Admissions", "Financial Aid"), name="Tess Two")
    two = client.application.test_client()
    login(two, "two-admin@example.edu")
    page = two.get(f"/admin/users/{both.id}").get_data(as_text=True)
    assert "Set password" in page and "Deactivate user" in page and "View only" not in page
    response = post(two, f"/admin/users/{both.id}/password", {"new_password": "a-new-password"})
    assert response.status_code == 303
    assert signs_in(client, "both@example.edu", "a-new-password")


def test_an_assigned_agent_of_another_offices_number_is_out_of_reach(client, world, make):
    """Sam is only in Admissions, but as an assigned agent of a Financial Aid number sees its
    conversations: taking over Sam would reach Financial Aid too."""
    sam = world["users"]["standard"]
    make.number(
        "+12025550201", office="Financial Aid", agents=("standard@example.edu",), label="FA Direct"
    )
    login(client, "admin@example.edu")
    before = state(sam.id)
    response = post(client, f"/admin/users/{sam.id}/password", {"new_password": ATTACKER_PASSWORD})
    assert response.status_code == 403
    assert "Also an assigned agent of numbers of Financial Aid, which you do not administer" in (
        response.get_data(as_text=True)
    )
    assert state(sam.id) == before
    assert not signs_in(client, "standard@example.edu", ATTACKER_PASSWORD)


def test_the_services_refuse_too(world, both):
    admin = world["users"]["admin"]
    before = state(both.id)
    with pytest.raises(Forbidden, match="Also a member of Financial Aid"):
        users.set_password(admin, both, ATTACKER_PASSWORD)
    with pytest.raises(Forbidden):
        users.set_active(admin, both, False)
    with pytest.raises(Forbidden):
        users.update_user(admin, both, "Bo Both", "admin", {world["office"].id})
    db.session.rollback()
    assert state(both.id) == before


def test_an_office_less_user_can_be_placed_only_in_the_admins_own_offices(client, world):
    """A user made on the command line without an office is every admin's to place, but only in
    offices the admin belongs to."""
    loose = directory.create_user("loose@example.edu", "standard", PASSWORD, name="Lou Loose")
    db.session.commit()
    login(client, "admin@example.edu")
    assert "Lou Loose" in client.get("/admin/users").get_data(as_text=True)

    before = state(loose.id)
    response = post(
        client, f"/admin/users/{loose.id}",
        {"name": "Lou Loose", "role": "standard", "office_ids": [str(world["other_office"].id)]},
    )  # fmt: skip
    assert response.status_code == 422
    assert "Choose offices you manage." in response.get_data(as_text=True)
    assert state(loose.id) == before

    response = post(
        client, f"/admin/users/{loose.id}",
        {"name": "Lou Loose", "role": "standard", "office_ids": [str(world["office"].id)]},
    )  # fmt: skip
    assert response.status_code == 303
    assert state(loose.id)[4] == ["Admissions"]


def test_nobody_sets_the_password_of_a_user_in_no_office(client, world):
    """Otherwise an Admissions admin could set it, wait for Financial Aid's admin to place the
    user there, and sign in as them to read Financial Aid's conversations."""
    loose = directory.create_user("loose@example.edu", "standard", PASSWORD, name="Lou Loose")
    db.session.commit()
    login(client, "admin@example.edu")
    page = client.get(f"/admin/users/{loose.id}").get_data(as_text=True)
    assert "add them to one of your offices first" in page and 'name="new_password"' not in page
    before = state(loose.id)
    response = post(client, f"/admin/users/{loose.id}/password", {"new_password": ATTACKER_PASSWORD})
    assert response.status_code == 403
    assert "add them to one of your offices first" in response.get_data(as_text=True)
    assert state(loose.id) == before and not signs_in(client, "loose@example.edu", ATTACKER_PASSWORD)

    post(client, f"/admin/users/{loose.id}",
         {"name": "Lou Loose", "role": "standard", "office_ids": [str(world["office"].id)]})  # fmt: skip
    response = post(client, f"/admin/users/{loose.id}/password", {"new_password": ATTACKER_PASSWORD})
    assert response.status_code == 303  # once placed, the admin's to manage
    assert signs_in(client, "loose@example.edu", ATTACKER_PASSWORD)


def test_an_office_less_admin_cannot_be_taken_over_but_changes_themself(client, world):
    """Any admin could otherwise adopt an administrator who is in no office (the first one, made on
    the command line) and hold that account wherever it goes next."""
    root = directory.create_user("root@example.edu", "admin", PASSWORD, name="Rita Root")
    db.session.commit()
    login(client, "admin@example.edu")
    page = client.get(f"/admin/users/{root.id}").get_data(as_text=True)
    assert "View only" in page and "An administrator in no office" in page
    assert "Set password" not in page
    before = state(root.id)
    response = post(client, f"/admin/users/{root.id}/password", {"new_password": ATTACKER_PASSWORD})
    assert response.status_code == 403
    assert state(root.id) == before
    assert not signs_in(client, "root@example.edu", ATTACKER_PASSWORD)

    own = client.application.test_client()
    login(own, "root@example.edu")
    response = post(own, f"/admin/users/{root.id}/password", {"new_password": "roots-new-password"})
    assert response.status_code == 303
    assert signs_in(own, "root@example.edu", "roots-new-password")


def test_the_users_list_says_it_shows_people_in_no_office_too(client, world):
    directory.create_user("new@example.edu", "standard", PASSWORD, name="Nia New")
    db.session.commit()
    login(client, "admin@example.edu")
    page = client.get("/admin/users").get_data(as_text=True)
    assert "Nia New" in page
    assert "People in your offices, and people in no office yet." in page


def test_a_user_added_to_another_office_meanwhile_is_out_of_reach(app, client, world):
    """Another admin adds the user to Financial Aid while this admin (Admissions only) sets their
    password: the change waits for the addition, then sees it and is refused."""
    user_id = world["users"]["standard"].id
    offices = {world["office"].id, world["other_office"].id}
    ada_id = directory.create_user(
        "ada@example.edu", "admin", PASSWORD, name="Ada All", office_names=["Admissions", "Financial Aid"]
    ).id
    db.session.commit()
    login(client, "admin@example.edu")
    token = csrf_token(client, "/inbox")
    adding, before = threading.Event(), state(user_id)
    db.session.commit()  # the test's own transaction holds no lock meanwhile

    def add_to_financial_aid() -> None:
        with app.app_context():
            admin, target = db.session.get(User, ada_id), db.session.get(User, user_id)
            users.update_user(admin, target, target.name, target.role, offices)
            db.session.flush()
            adding.set()
            time.sleep(0.5)  # this admin's request arrives meanwhile
            db.session.commit()

    other = threading.Thread(target=add_to_financial_aid)
    other.start()
    assert adding.wait(10)
    response = client.post(
        f"/admin/users/{user_id}/password", data={"new_password": ATTACKER_PASSWORD, "csrf_token": token}
    )
    other.join()
    assert response.status_code == 403
    assert "Also a member of Financial Aid" in response.get_data(as_text=True)
    assert state(user_id)[3] == before[3]  # the password is unchanged
