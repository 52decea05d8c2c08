"""Reusable numbers: add, edit, deactivate, and the Unsolicited Message Settings."""

from __future__ import annotations

from flask import current_app, request, url_for
from flask_login import current_user

from webapp.models import ReusableNumber
from webapp.services.admin import FormErrors, my_offices, numbers
from webapp.services.dbutil import row_id
from webapp.web.admin import (
    bp,
    checked_ids,
    done,
    form_choice,
    form_id,
    form_ids,
    invalid,
    owned,
    rejected,
)
from webapp.web.rendering import render_screen

LIST = "admin/numbers.html"
NEW = "admin/number_new.html"
DETAIL = "admin/number.html"


def _providers() -> list[str]:
    return list(current_app.extensions["parley"].sms_providers)


def _choices(number: ReusableNumber | None = None) -> dict:
    return {
        "offices": my_offices(current_user),
        "inboxes": numbers.assignable_inboxes(current_user, number),
        "agents": numbers.assignable_agents(current_user, number),
        "providers": _providers(),
        "backings": numbers.BACKING_CHOICES,
    }


def _details_form(number: ReusableNumber) -> dict:
    return {
        "office_id": number.office_id,
        "label": number.label,
        "description": number.description,
        "provider": number.provider,
    }


def _settings_form(number: ReusableNumber) -> dict:
    return {
        "backing": number.backing,
        "agent_ids": {user.id for user in number.agents},
        "inbox_ids": {office.id for office in number.inboxes},
    }


def _detail(number: ReusableNumber, block: str, status: int = 200, **context: object):
    values = {
        "form": _details_form(number),
        "settings": _settings_form(number),
        "errors": {},
        "settings_errors": {},
    }
    values.update(context)
    return render_screen(DETAIL, block, status=status, number=number, **_choices(number), **values)


@bp.get("/numbers")
def numbers_index():
    return render_screen(LIST, "admin_content", numbers=numbers.list_numbers(current_user))


@bp.route("/numbers/new", methods=["GET", "POST"])
def number_new():
    choices = _choices()
    # "Add a number" on an office's page comes with that office chosen.
    asked = row_id(request.args.get("office"))
    office_ids = [office.id for office in choices["offices"]]
    form = {
        "phone": "",
        "office_id": asked if asked in office_ids else (office_ids[0] if len(office_ids) == 1 else None),
        "label": "",
        "description": "",
        "provider": choices["providers"][0] if len(choices["providers"]) == 1 else "",
        "backing": "agent",
        "agent_ids": set(),
        "inbox_ids": set(),
    }
    if request.method == "POST":
        agent_ids, inbox_ids = form_ids("agent_ids"), form_ids("inbox_ids")
        form = {
            "phone": request.form.get("phone", ""),
            "office_id": form_id("office_id"),
            "label": request.form.get("label", ""),
            "description": request.form.get("description", ""),
            "provider": request.form.get("provider", ""),
            "backing": request.form.get("backing", ""),
            "agent_ids": checked_ids(agent_ids),
            "inbox_ids": checked_ids(inbox_ids),
        }
        try:
            number = numbers.add_number(
                current_user,
                form["phone"],
                request.form.get("office_id"),
                form["label"],
                form["description"],
                form["provider"],
                _providers(),
                form["backing"],
                agent_ids,
                inbox_ids,
            )
        except FormErrors as exc:
            return invalid(NEW, "number_form", form=form, errors=exc.errors, **choices)
        if number.agents or number.inboxes:
            message = f"{number.display_label} added. Assigned agents and inboxes can text from it now."
        else:
            message = (
                f"{number.display_label} added. Nobody is assigned to it yet: assign agents or "
                "inboxes below so that staff can text from it; until then only admins see its texts."
            )
        return done(message, url_for("admin.number_detail", number_id=number.id))
    return render_screen(NEW, "number_form", form=form, errors={}, **choices)


@bp.route("/numbers/<int:number_id>", methods=["GET", "POST"])
def number_detail(number_id: int):
    number = owned(numbers.number_for_admin, number_id)
    if request.method == "GET":
        return _detail(number, "details_form")
    form = {
        "office_id": form_id("office_id"),
        "label": request.form.get("label", ""),
        "description": request.form.get("description", ""),
        "provider": request.form.get("provider", ""),
    }
    try:
        changed = numbers.update_number(
            current_user,
            number,
            request.form.get("office_id"),
            form["label"],
            form["description"],
            form["provider"],
            _providers(),
        )
    except FormErrors as exc:
        status = rejected()
        number = owned(numbers.number_for_admin, number_id)
        return _detail(number, "details_form", status, form=form, errors=exc.errors)
    message = f"{number.display_label} saved." if changed else "Nothing to change."
    return done(message, url_for("admin.number_detail", number_id=number.id))


@bp.post("/numbers/<int:number_id>/settings")
def number_settings(number_id: int):
    number = owned(numbers.number_for_admin, number_id)
    agent_ids, inbox_ids = form_ids("agent_ids"), form_ids("inbox_ids")
    settings = {
        "backing": request.form.get("backing", ""),
        "agent_ids": checked_ids(agent_ids),
        "inbox_ids": checked_ids(inbox_ids),
    }
    try:
        changed = numbers.update_settings(
            current_user, number, settings["backing"], agent_ids, inbox_ids
        )
    except FormErrors as exc:
        status = rejected()
        number = owned(numbers.number_for_admin, number_id)
        return _detail(
            number, "settings_form", status, settings=settings, settings_errors=exc.errors
        )
    message = (
        "Unsolicited Message Settings saved. The backing applies to new conversations; who can see "
        "and answer the number's conversations changes at once."
        if changed
        else "Nothing to change."
    )
    return done(message, url_for("admin.number_detail", number_id=number.id))


@bp.post("/numbers/<int:number_id>/active")
def number_active(number_id: int):
    number = owned(numbers.number_for_admin, number_id)
    active = form_choice("active", ("0", "1")) == "1"
    changed = numbers.set_active(current_user, number, active)
    if not changed:
        message = "Nothing to change."
    elif active:
        message = f"{number.display_label} is active again."
    else:
        message = (
            f"{number.display_label} is deactivated: no one can text from it and replies to it "
            "are refused, but an opt-out (STOP) is still recorded. Its conversations stay."
        )
    return done(message, url_for("admin.number_detail", number_id=number.id))
