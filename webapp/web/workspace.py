"""The agent's workspace around the Message field: the Saved replies list (loaded when the agent
opens it), and who else has a conversation open or is typing in it."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, make_response, render_template, request
from markupsafe import escape

from webapp.extensions import db
from webapp.models import ReusableNumber
from webapp.services import access, presence, saved_replies
from webapp.services.dbutil import row_id
from webapp.services.phones import PhoneError, parse_us_phone
from webapp.web import plain_user, signed_in

bp = Blueprint("workspace", __name__)


def _id(name: str) -> int | None:
    return row_id(request.args.get(name))


@bp.get("/saved-replies")
def saved_replies_list():
    """The saved replies an agent may insert, merged for the contact: in a conversation, its
    office's; on compose, the chosen number's office's (any office the agent sends from before a
    number is chosen)."""
    user = signed_in()
    conversation_id = _id("conversation_id")
    phone = None
    if conversation_id is not None:
        try:
            conversation = access.visible_conversation(user, conversation_id)
        except access.AccessDenied:
            abort(404)
        office_ids = {conversation.number.office_id}
        phone = conversation.contact_phone
    else:
        if not user.can_create_texts:
            abort(403, "Your role, Texting - Limited, cannot create 1:1 texts.")
        numbers: list[ReusableNumber] = access.sendable_numbers(user)
        number_id = _id("number_id")
        chosen = [number for number in numbers if number.id == number_id] or numbers
        office_ids = {number.office_id for number in chosen}
        try:
            phone = parse_us_phone(request.args.get("to", "")[:40])
        except PhoneError:
            phone = None  # no contact yet: the names stay to be filled in
    agent_values = {"agent_first_name": saved_replies.agent_first_name(user)}
    values = {**saved_replies.contact_values(phone), **agent_values}
    offered = saved_replies.of_offices(office_ids)
    replies = [saved_replies.merge(reply, values) for reply in offered]
    if conversation_id is not None:
        return render_template("workspace/saved_replies.html", replies=replies, prefix="reply")
    # On compose the phone can still change: each reply also comes without the contact's names,
    # so that workspace.js can take a name back when the To phone no longer names its contact.
    unnamed = {reply.id: saved_replies.merge(reply, agent_values).text for reply in offered}
    return render_template(
        "workspace/saved_replies.html",
        replies=replies,
        prefix="compose",
        unnamed=unnamed,
        merged_for=request.args.get("to", "").strip()[:40],
        names=[values["first_name"], values["last_name"]],
    )


@bp.get("/saved-replies/contact")
def saved_reply_contact():
    """On compose, the To phone's contact for the merge fields: a saved reply inserted before the
    phone was entered gets {first_name} and {last_name} filled in once it is (workspace.js)."""
    if not signed_in().can_create_texts:
        abort(403, "Your role, Texting - Limited, cannot create 1:1 texts.")
    try:
        phone = parse_us_phone(request.args.get("to", "")[:40])
    except PhoneError:
        phone = None
    values = saved_replies.contact_values(phone)
    response = jsonify(known=bool(values["first_name"] or values["last_name"]), **values)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/conversations/<int:conversation_id>/presence")
@plain_user
def presence_poll(conversation_id: int):
    """The open conversation says every few seconds that the agent is here (and typing); the
    answer names the colleagues in it now."""
    user = signed_in()
    try:
        access.visible_conversation(user, conversation_id)
    except access.AccessDenied:
        abort(404)
    colleagues = presence.here(conversation_id, user, typing=request.form.get("typing") == "1")
    db.session.commit()
    response = make_response(str(escape(presence.describe(colleagues))))  # htmx swaps it in as HTML
    response.headers["Cache-Control"] = "no-store"
    return response
