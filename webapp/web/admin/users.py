"""Users: create, change role and offices, deactivate, set a new password."""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user

from webapp.models import User
from webapp.services import sessions
from webapp.services.admin import Forbidden, FormErrors, my_offices, users
from webapp.services.dbutil import row_id
from webapp.web.admin import (
    bp,
    checked_ids,
    done,
    forbidden,
    form_choice,
    form_ids,
    invalid,
    owned,
    rejected,
)
from webapp.web.rendering import render_screen

LIST = "admin/users.html"
NEW = "admin/user_new.html"
DETAIL = "admin/user.html"


def _choices() -> dict:
    return {"offices": my_offices(current_user), "roles": users.ROLE_CHOICES}


def _detail(user: User, block: str, status_code: int = 200, **context: object):
    values = {
        "form": {
            "name": user.name,
            "role": user.role,
            "office_ids": {office.id for office in user.offices},
        },
        "errors": {},
        "password_errors": {},
        "status_error": None,
        "refusal": users.refusal(current_user, user),
        "password_refusal": users.password_refusal(current_user, user),
    }
    values.update(context)
    return render_screen(DETAIL, block, status=status_code, user=user, **_choices(), **values)


@bp.get("/users")
def users_index():
    mine = {office.id for office in my_offices(current_user)}
    listed = users.list_users(current_user)
    return render_screen(
        LIST,
        "admin_content",
        users=listed,
        my_office_ids=mine,
        refusals=users.refusals(current_user, listed),
    )


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    # "Add a user" on an office's page comes with that office ticked.
    office_id = row_id(request.args.get("office"))
    offices = {office_id} if office_id in {office.id for office in my_offices(current_user)} else set()
    form = {"name": "", "email": "", "role": "standard", "office_ids": offices}
    if request.method == "POST":
        office_ids = form_ids("office_ids")
        form = {
            "name": request.form.get("name", ""),
            "email": request.form.get("email", ""),
            "role": request.form.get("role", ""),
            "office_ids": checked_ids(office_ids),
        }
        try:
            user = users.create_user(
                current_user,
                form["name"],
                form["email"],
                form["role"],
                office_ids,
                request.form.get("password", ""),
            )
        except FormErrors as exc:
            return invalid(NEW, "user_form", form=form, errors=exc.errors, **_choices())
        return done(
            f"{user.name} can now sign in as {user.email}.",
            url_for("admin.user_detail", user_id=user.id),
        )
    if len(_choices()["offices"]) == 1:
        form["office_ids"] = {_choices()["offices"][0].id}
    return render_screen(NEW, "user_form", form=form, errors={}, **_choices())


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_detail(user_id: int):
    user = owned(users.user_for_admin, user_id)
    if request.method == "GET":
        return _detail(user, "user_form")
    office_ids = form_ids("office_ids")
    form = {
        "name": request.form.get("name", ""),
        "role": request.form.get("role", ""),
        "office_ids": checked_ids(office_ids),
    }
    try:
        changed = users.update_user(current_user, user, form["name"], form["role"], office_ids)
    except Forbidden as exc:
        forbidden(exc)
    except FormErrors as exc:
        status = rejected()
        return _detail(
            owned(users.user_for_admin, user_id),
            "user_form",
            status,
            form=form,
            errors=exc.errors,
        )
    message = f"{user.name} saved." if changed else "Nothing to change."
    return done(message, url_for("admin.user_detail", user_id=user.id))


@bp.post("/users/<int:user_id>/password")
def user_password(user_id: int):
    user = owned(users.user_for_admin, user_id)
    try:
        users.set_password(
            current_user, user, request.form.get("new_password", ""), sessions.current_token()
        )
    except Forbidden as exc:
        forbidden(exc)
    except FormErrors as exc:
        status = rejected()
        return _detail(
            owned(users.user_for_admin, user_id),
            "password_form",
            status,
            password_errors=exc.errors,
        )
    return done(
        f"New password set for {user.name}. Tell them in person or by phone, not by email.",
        url_for("admin.user_detail", user_id=user.id),
    )


@bp.get("/users/<int:user_id>/deactivate")
def user_deactivate(user_id: int):
    """The step before a deactivation: it signs the user out everywhere, so the page asks first.
    A POST to the /active route (the form this shows, or a script) does the deactivating."""
    user = owned(users.user_for_admin, user_id)
    return _detail(user, "status_form", confirm_deactivate=True)


@bp.get("/users/<int:user_id>/access")
def user_access(user_id: int):
    """Where Cancel on that step leads: the Access section as it was, its button focused again."""
    user = owned(users.user_for_admin, user_id)
    return _detail(user, "status_form", back_from_confirm=True)


@bp.post("/users/<int:user_id>/active")
def user_active(user_id: int):
    user = owned(users.user_for_admin, user_id)
    active = form_choice("active", ("0", "1")) == "1"
    try:
        changed = users.set_active(current_user, user, active)
    except Forbidden as exc:
        forbidden(exc)
    except FormErrors as exc:
        status = rejected()
        return _detail(
            owned(users.user_for_admin, user_id),
            "status_form",
            status,
            status_error=exc.errors["active"],
        )
    if not changed:
        message = "Nothing to change."
    elif active:
        message = f"{user.name} is active again and can sign in."
    else:
        message = f"{user.name} is deactivated: they cannot sign in; their history stays."
    return done(message, url_for("admin.user_detail", user_id=user.id))
