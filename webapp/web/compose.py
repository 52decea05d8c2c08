"""Create 1:1 Text."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, redirect, request, url_for

from webapp.services import access, scheduling, sending
from webapp.services.segments import MAX_MESSAGE_LENGTH
from webapp.transactions import read_first
from webapp.web import plain_user, signed_in
from webapp.web.rendering import redirect_to, render_screen

bp = Blueprint("compose", __name__)

TEMPLATE = "compose/new.html"


def _render(numbers, form: dict, errors: dict, status: int = 200):
    return render_screen(
        TEMPLATE,
        "compose_form",
        status=status,
        numbers=numbers,
        form=form,
        errors=errors,
        hold_notices=scheduling.compose_notices(numbers),
        max_length=MAX_MESSAGE_LENGTH,
        idempotency_key=uuid.uuid4().hex,
    )


@bp.route("/texts/new", methods=["GET", "POST"])
@plain_user
def new():
    user = signed_in()
    if not user.can_create_texts:
        to = request.args.get("to", "").strip()[:40]
        if request.method == "GET" and to:
            # A CRM deep link to compose: show a Limited user what Parley knows about the contact.
            return redirect(url_for("contacts.lookup", phone=to, **{"from": "compose"}))
        abort(403, "Your role, Texting - Limited, cannot create 1:1 texts.")
    if request.method == "GET":
        numbers = access.sendable_numbers(user)
        form = {
            "number_id": str(numbers[0].id) if len(numbers) == 1 else "",
            "to": request.args.get("to", "")[:40],
            "body": "",
            "send_at": "",
        }
        return _render(numbers, form, {})

    form = {
        "number_id": request.form.get("number_id", ""),
        "to": request.form.get("to", ""),
        "body": request.form.get("body", ""),
        "send_at": request.form.get("send_at", "")[:40],
    }
    number_id = int(form["number_id"]) if form["number_id"].isdigit() else None
    try:
        # The checks read only; the write lock is taken for the queueing alone.
        with read_first():
            checked = sending.check_text(
                user,
                number_id,
                form["to"],
                form["body"],
                idempotency_key=(request.form.get("idempotency_key") or "")[:64] or None,
                send_later=form["send_at"],
            )
    except sending.ComposeErrors as exc:
        # htmx swaps only 2xx answers, so the fragment comes back 200; a plain post gets 422.
        status = 200 if request.headers.get("HX-Request") else 422
        return _render(access.sendable_numbers(user), form, exc.errors, status)
    except access.AccessDenied:
        abort(403)
    message = sending.queue_text(user, checked)
    return redirect_to(url_for("conversations.show", conversation_id=message.conversation_id))
