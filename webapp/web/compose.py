"""Create 1:1 Text."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, make_response, request, session, url_for
from jinja2_fragments.flask import render_block

from webapp.models import Backing
from webapp.services import access, media, optouts, phones, scheduling, sending
from webapp.services.dbutil import row_id
from webapp.services.segments import MAX_MESSAGE_LENGTH
from webapp.transactions import read_first
from webapp.web import plain_user, signed_in
from webapp.web.contacts import lookup_page
from webapp.web.rendering import redirect_to, render_screen
from webapp.web.request_limits import body_limit

bp = Blueprint("compose", __name__)

TEMPLATE = "compose/new.html"
# The number this browser last created a 1:1 text from: the From list starts on it next time.
LAST_NUMBER = "compose_number"


def _default_number(numbers) -> str:
    """From starts on the number of the last 1:1 text created here, while the user may still send
    from it (an agent who texts from one number all day picks it once), else on the first one
    that staff answer: a bot would answer the contact's reply."""
    if not numbers:
        return ""
    last = session.get(LAST_NUMBER)
    staffed = [number for number in numbers if number.backing == Backing.AGENT] or numbers
    return str(next((number.id for number in numbers if number.id == last), staffed[0].id))


def _opted_out(to: str) -> bool:
    """To is an opted-out contact: say so before Send."""
    try:
        return optouts.is_opted_out(phones.parse_us_phone(to))
    except phones.PhoneError:
        return False


def _render(numbers, form: dict, errors: dict, status: int = 200, to_opted_out: bool = False):
    return render_screen(
        TEMPLATE,
        "compose_form",
        status=status,
        numbers=numbers,
        pictures_offered=any(sending.sends_pictures(number.provider) for number in numbers),
        form=form,
        errors=errors,
        to_opted_out=to_opted_out,
        hold_notices=scheduling.compose_notices(numbers),
        max_length=MAX_MESSAGE_LENGTH,
        idempotency_key=uuid.uuid4().hex,
    )


def uploaded_picture(errors: dict[str, str]) -> media.CheckedPicture | None:
    """The form's Attach picture file, checked; its problem goes into `errors` as "picture"."""
    upload = request.files.get("picture")
    if upload is None or not upload.filename:
        return None
    try:
        return media.check_picture(upload.stream, upload.filename)
    except media.PictureError as exc:
        errors["picture"] = str(exc)
        return None


# A form with a picture may be bigger than other requests; a bigger one is refused before it is
# read. Up to this size (a phone's largest photos) the form comes back with the picture's error
# next to it and what was typed kept; past it, the answer is an error page of its own.
PICTURE_FORM_BYTES = 25 * 1024 * 1024
PICTURE_TOO_LARGE = (
    "A picture can be at most 5 MB (JPEG, PNG or GIF). This upload is larger, so nothing was sent: "
    "choose a smaller picture."
)


@bp.route("/texts/new", methods=["GET", "POST"])
@body_limit(PICTURE_FORM_BYTES, PICTURE_TOO_LARGE)
@plain_user
def new():
    user = signed_in()
    if not user.can_create_texts:
        to = request.args.get("to", "").strip()[:40]
        if request.method == "GET" and to:
            # A CRM deep link to compose: refused all the same, with what Parley knows about the contact.
            return lookup_page(to, compose_refused=True)
        abort(403, "Your role, Texting - Limited, cannot create 1:1 texts.")
    if request.method == "GET":
        numbers = access.sendable_numbers(user)
        form = {
            "number_id": _default_number(numbers),
            "to": request.args.get("to", "")[:40],
            "body": "",
            "send_at": "",
        }
        return _render(numbers, form, {}, to_opted_out=bool(form["to"]) and _opted_out(form["to"]))

    form = {
        "number_id": request.form.get("number_id", ""),
        "to": request.form.get("to", ""),
        "body": request.form.get("body", ""),
        "send_at": request.form.get("send_at", "")[:40],
    }
    number_id = row_id(form["number_id"])
    picture_errors: dict[str, str] = {}
    picture = uploaded_picture(picture_errors)
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
                picture=picture,
            )
            if picture_errors:
                raise sending.ComposeErrors(picture_errors)
        # Queueing refuses only the same form sent at once, twice, with another text.
        message = sending.queue_text(user, checked)
    except sending.ComposeErrors as exc:
        # htmx swaps only 2xx answers, so the fragment comes back 200; a plain post gets 422.
        status = 200 if request.headers.get("HX-Request") else 422
        errors = {**exc.errors, **picture_errors}
        # The notice under To stays beside the refusal it explains.
        opted_out = errors.get("form") == optouts.OPTED_OUT_ERROR
        return _render(access.sendable_numbers(user), form, errors, status, to_opted_out=opted_out)
    except access.AccessDenied:
        abort(403)
    session[LAST_NUMBER] = checked.number.id
    return redirect_to(url_for("conversations.show", conversation_id=message.conversation_id))


@bp.get("/texts/new/to-notice")
@plain_user
def to_notice():
    """What compose says under To as the phone is typed: that the contact opted out, or nothing."""
    if not signed_in().can_create_texts:
        abort(403, "Your role, Texting - Limited, cannot create 1:1 texts.")
    to = request.args.get("to", "")[:40]
    response = make_response(render_block(TEMPLATE, "to_notice", to_opted_out=_opted_out(to)))
    response.headers["Cache-Control"] = "no-store"
    return response
