"""Saved replies of the admin's offices: create, change and delete them (each in the audit log).
Agents insert them from the Saved replies button beside a Message field."""

from __future__ import annotations

from flask import abort, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.models import SavedReply
from webapp.services import saved_replies
from webapp.services.admin import my_offices
from webapp.web.admin import bp, done, form_id, rejected
from webapp.web.rendering import render_screen

TEMPLATE = "admin/saved_replies.html"
EMPTY = {"title": "", "body": "", "office_id": ""}


def _page(form: dict, errors: dict, status: int = 200, editing: SavedReply | None = None,
          confirm_delete: SavedReply | None = None):  # fmt: skip
    offices = my_offices(current_user)
    return render_screen(
        TEMPLATE, "reply_form", status=status, offices=offices,
        replies=saved_replies.of_offices({office.id for office in offices}),
        office_names={office.id: office.name for office in offices},
        form=form, errors=errors, editing=editing, confirm_delete=confirm_delete,
        merge_fields=saved_replies.MERGE_FIELDS, max_length=saved_replies.MAX_MESSAGE_LENGTH,
    )  # fmt: skip


def _submitted() -> dict:
    return {key: request.form.get(key, "") for key in EMPTY}


def _owned(reply_id: int) -> SavedReply:
    reply = db.session.get(SavedReply, reply_id)
    if reply is None or reply.office_id not in {office.id for office in my_offices(current_user)}:
        abort(404)
    return reply


@bp.route("/saved-replies", methods=["GET", "POST"])
def saved_replies_index():
    if request.method == "GET":
        return _page(dict(EMPTY), {})
    form = _submitted()
    offices = {office.id: office for office in my_offices(current_user)}
    office_id = form_id("office_id")
    errors: dict[str, str] = {}
    if office_id not in offices:
        errors["office_id"] = "Choose one of your offices."
    try:
        if not errors:
            saved_replies.create(current_user, offices[office_id], form["title"], form["body"])
    except saved_replies.SavedReplyError as exc:
        errors.update(exc.errors)
    if errors:
        return _page(form, errors, status=rejected())
    return done(f"Saved reply {form['title'].strip()} added.", url_for("admin.saved_replies_index"))


@bp.route("/saved-replies/<int:reply_id>", methods=["GET", "POST"])
def saved_reply_edit(reply_id: int):
    reply = _owned(reply_id)
    if request.method == "GET":
        form = {"title": reply.title, "body": reply.body, "office_id": str(reply.office_id)}
        return _page(form, {}, editing=reply)
    form = {**_submitted(), "office_id": str(reply.office_id)}
    office = next(office for office in my_offices(current_user) if office.id == reply.office_id)
    try:
        saved_replies.update(current_user, reply, office, form["title"], form["body"])
    except saved_replies.SavedReplyError as exc:
        return _page(form, exc.errors, status=rejected(), editing=reply)
    return done(f"Saved reply {reply.title} saved.", url_for("admin.saved_replies_index"))


@bp.get("/saved-replies/<int:reply_id>/delete")
def saved_reply_delete_confirm(reply_id: int):
    """The step before a deletion: agents lose the reply for good, so it asks."""
    return _page(dict(EMPTY), {}, confirm_delete=_owned(reply_id))


@bp.post("/saved-replies/<int:reply_id>/delete")
def saved_reply_delete(reply_id: int):
    reply = _owned(reply_id)
    office = next(office for office in my_offices(current_user) if office.id == reply.office_id)
    title = reply.title
    saved_replies.delete(current_user, reply, office)
    return done(f"Saved reply {title} deleted.", url_for("admin.saved_replies_index"))
