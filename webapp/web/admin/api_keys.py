"""API keys of the admin's offices: create one (its key is shown once, on the page that answers
the creation) and revoke one. Both are in the audit log."""

from __future__ import annotations

from flask import abort, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.services import api_keys
from webapp.services.admin import my_office_ids, my_offices
from webapp.web.admin import bp, done, form_id, rejected
from webapp.web.rendering import render_screen

TEMPLATE = "admin/api_keys.html"


def _page(form: dict, errors: dict, status: int = 200, created: api_keys.NewKey | None = None,
          confirm_revoke=None):  # fmt: skip
    offices = my_offices(current_user)
    return render_screen(
        TEMPLATE, "key_form", status=status, offices=offices,
        keys=api_keys.keys_of_offices({office.id for office in offices}),
        form=form, errors=errors, created=created, confirm_revoke=confirm_revoke,
    )  # fmt: skip


@bp.route("/api-keys", methods=["GET", "POST"])
def api_keys_index():
    if request.method == "GET":
        return _page({"name": "", "office_id": ""}, {})
    form = {"name": request.form.get("name", ""), "office_id": request.form.get("office_id", "")}
    office_id = form_id("office_id")
    offices = {office.id: office for office in my_offices(current_user)}
    errors = {}
    try:
        if office_id not in offices:
            errors["office_id"] = "Choose one of your offices."
            api_keys.check_name(form["name"])  # its error shown too, not after the office is fixed
        else:
            created = api_keys.create_key(form["name"], offices[office_id], current_user)
    except api_keys.ApiKeyError as exc:
        errors["name"] = str(exc)
    if errors:
        return _page(form, errors, status=rejected())
    db.session.commit()
    # Shown on this answer only (no redirect): only its hash is kept.
    return _page({"name": "", "office_id": ""}, {}, created=created)


def _key(key_id: int):
    key = api_keys.key_by_id(key_id)
    if key is None or key.office_id not in my_office_ids(current_user):
        abort(404)
    return key


@bp.get("/api-keys/<int:key_id>/revoke")
def api_key_revoke_confirm(key_id: int):
    """The step before a revocation: the CRM using the key stops working at once, so it asks."""
    return _page({"name": "", "office_id": ""}, {}, confirm_revoke=_key(key_id))


@bp.post("/api-keys/<int:key_id>/revoke")
def api_key_revoke(key_id: int):
    key = _key(key_id)
    api_keys.revoke_key(key, current_user)
    return done(f"API key {key.name} revoked: its next request gets 401.", url_for("admin.api_keys_index"))
