"""Pictures: the provider's public, signed and expiring link, and signed-in users' thumbnails."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from webapp.services import access, media
from webapp.web import signed_in
from webapp.web.errors import error_page

bp = Blueprint("media", __name__)


def _picture_response(picture: media.PictureFile, cache: str) -> Response:
    response = Response(picture.data, mimetype=picture.content_type)
    response.headers["Cache-Control"] = cache
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/media/<signed>")
def public(signed: str):
    """No session: the link a provider fetches the picture by, valid for PARLEY_MEDIA_URL_SECONDS
    after the message was handed to it. Anything else (forged, expired, erased) gets 404 or 410."""
    try:
        token = media.token_of_link(signed)
    except media.LinkRefused as exc:
        status = 410 if "expired" in str(exc) else 404
        return error_page(status, "Picture not available", str(exc))
    picture = media.picture_file(token)
    if picture is None:
        return error_page(404, "Picture not available", "This picture is no longer kept.")
    return _picture_response(picture, "no-store")


@bp.get("/conversations/<int:conversation_id>/pictures/<token>")
def picture(conversation_id: int, token: str):
    """A picture of a conversation the user may see (the thread's thumbnails)."""
    try:
        access.visible_conversation(signed_in(), conversation_id)
    except access.AccessDenied:
        abort(404)
    found = media.picture_in_conversation(token, conversation_id)
    if found is None:
        abort(404)
    return _picture_response(found, "private, max-age=86400")
