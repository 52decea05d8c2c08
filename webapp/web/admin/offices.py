"""Offices: create, rename, list members."""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user

from webapp.services.admin import FormErrors, numbers, offices
from webapp.web.admin import bp, done, invalid, owned
from webapp.web.rendering import render_screen

LIST = "admin/offices.html"
DETAIL = "admin/office.html"


@bp.route("/offices", methods=["GET", "POST"])
def offices_index():
    form = {"name": "", "help_text": ""}
    if request.method == "POST":
        form = {
            "name": request.form.get("name", ""),
            "help_text": request.form.get("help_text", ""),
        }
        try:
            office = offices.create_office(current_user, form["name"], form["help_text"])
        except FormErrors as exc:
            return invalid(
                LIST,
                "office_form",
                rows=offices.list_offices(current_user),
                form=form,
                errors=exc.errors,
            )
        return done(
            f"Office {office.name} created. Next: add its users and a reusable number.",
            url_for("admin.office_detail", office_id=office.id),
        )
    return render_screen(
        LIST, "office_form", rows=offices.list_offices(current_user), form=form, errors={}
    )


@bp.route("/offices/<int:office_id>", methods=["GET", "POST"])
def office_detail(office_id: int):
    office = owned(offices.office_for_admin, office_id)
    form = {"name": office.name, "help_text": office.help_text}
    if request.method == "POST":
        form = {
            "name": request.form.get("name", ""),
            "help_text": request.form.get("help_text", ""),
        }
        try:
            changed = offices.update_office(current_user, office, form["name"], form["help_text"])
        except FormErrors as exc:
            office = owned(offices.office_for_admin, office_id)
            return invalid(DETAIL, "office_form", form=form, errors=exc.errors, **_detail(office))
        message = f"Office {office.name} saved." if changed else "Nothing to change."
        return done(message, url_for("admin.office_detail", office_id=office.id))
    return render_screen(DETAIL, "office_form", form=form, errors={}, **_detail(office))


def _detail(office) -> dict:
    """What the office page shows besides its form: its members and its numbers."""
    own = [number for number in numbers.list_numbers(current_user) if number.office_id == office.id]
    return {"office": office, "members": offices.members(office), "numbers": own}
