"""Pictures (MMS): checked by their content, kept in a media storage, linked by expiring URLs.

- An upload is a picture when Pillow reads it as JPEG, PNG or GIF (its bytes, never its name or
  the browser's content type), of at most MAX_PICTURE_BYTES.
- Files go to a `MediaStorage`; the default keeps them under the instance folder
  (`PARLEY_MEDIA_FOLDER`). Another storage (S3-compatible, say) implements the same three methods.
- Each picture has a random token. The provider gets a public URL of it that is signed (with the
  app's SECRET_KEY) and expires after PARLEY_MEDIA_URL_SECONDS; it is made when the message is
  handed to the provider, so a message sent later (quiet hours, a retry) gets a fresh one.
  Signed-in users see pictures through a session route that checks the conversation is theirs.
- A contact's pictures (inbound MMS) arrive as the provider's links; the worker downloads them
  through the provider plugin (`SmsProvider.fetch_media`) and keeps those that are pictures the
  same way, so the thread shows thumbnails. Anything else (a video, a contact card, a file that
  cannot be had) stays a link.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from PIL import Image, UnidentifiedImageError
from sqlalchemy import bindparam, delete, select

from webapp.extensions import db
from webapp.models import Direction, Message, MessagePicture, utcnow
from webapp.plugin_api import MediaUnavailable
from webapp.plugin_api.registry import PluginError

log = logging.getLogger(__name__)

MAX_PICTURE_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a small file that unpacks to more is refused (a "decompression bomb")
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "GIF": ("image/gif", "gif")}
_PICTURES = MessagePicture.__table__
_MESSAGES = Message.__table__


def sends_pictures(provider_name: str) -> bool:
    """Whether the provider carrying a number declares MMS support (and is enabled)."""
    try:
        return current_app.extensions["parley"].provider(provider_name).supports_media
    except PluginError:
        return False


class PictureError(ValueError):
    """An upload that is not a picture Parley sends; the message says why."""


@dataclass(frozen=True)
class CheckedPicture:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def _too_many_pixels(name: str, size: str = "") -> str:
    return (
        f"The picture{name} has too many pixels{size}: at most {MAX_PIXELS // 1_000_000} million. "
        "Nothing was sent."
    )


def check_picture(stream, filename: str = "") -> CheckedPicture:
    """The upload, when it is a JPEG, PNG or GIF of at most 5 MB (read from its bytes)."""
    data = stream.read(MAX_PICTURE_BYTES + 1)
    if len(data) > MAX_PICTURE_BYTES:
        raise PictureError("A picture can be at most 5 MB; this one is larger. Nothing was sent.")
    if not data:
        raise PictureError("The picture file is empty. Nothing was sent.")
    name = f" ({filename})" if filename else ""
    refusal = f"The file{name} is not a JPEG, PNG or GIF picture. Nothing was sent."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
                kind = image.format
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise PictureError(_too_many_pixels(name, f" ({width:,} × {height:,})"))
                image.verify()  # reads the whole file: a picture header on anything else fails
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PictureError(_too_many_pixels(name)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, PictureError):
            raise
        raise PictureError(refusal) from None
    if kind not in FORMATS:
        raise PictureError(refusal)
    content_type, extension = FORMATS[kind]
    return CheckedPicture(data, content_type, extension, width, height)


class MediaStorage(ABC):
    """Where picture files live. Keys are made by Parley (letters, digits, '-', '_', '.')."""

    @abstractmethod
    def save(self, key: str, data: bytes, content_type: str) -> None: ...

    @abstractmethod
    def read(self, key: str) -> bytes | None:
        """The file, or None when it is gone."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the file; a missing one is not an error."""


class LocalStorage(MediaStorage):
    """Files in a folder (by default `instance/media`)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise ValueError(f"not a media key: {key!r}")
        return self.folder / key

    def save(self, key: str, data: bytes, content_type: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, path)

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def storage() -> MediaStorage:
    return LocalStorage(current_app.config["MEDIA_FOLDER"])


def store(message_id: int, picture: CheckedPicture, source_url: str | None = None) -> MessagePicture:
    """Save the file and its row (in the caller's transaction); `source_url` is the provider's
    link a contact's picture was downloaded from."""
    token = secrets.token_urlsafe(24)
    key = f"{token}.{picture.extension}"
    storage().save(key, picture.data, picture.content_type)
    row = MessagePicture(
        message_id=message_id, token=token, content_type=picture.content_type,
        size_bytes=len(picture.data), width=picture.width, height=picture.height, storage_key=key,
        source_url=source_url,
    )  # fmt: skip
    db.session.add(row)
    db.session.flush()
    return row


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="parley.media")


def public_url(token: str) -> str:
    """The picture's public link for a provider: unguessable, and valid for
    PARLEY_MEDIA_URL_SECONDS from now."""
    signed = _serializer().dumps(token)
    return f"{current_app.config['PUBLIC_BASE_URL']}/media/{signed}"


class LinkRefused(Exception):
    """A public link that is forged, expired or of a picture that is gone."""


def token_of_link(signed: str) -> str:
    try:
        return _serializer().loads(signed, max_age=current_app.config["MEDIA_URL_SECONDS"])
    except SignatureExpired:
        raise LinkRefused("This picture link has expired.") from None
    except BadSignature:
        raise LinkRefused("This picture link is not valid.") from None


_BY_TOKEN = select(_PICTURES.c.storage_key, _PICTURES.c.content_type).where(
    _PICTURES.c.token == bindparam("token")
)
_BY_TOKEN_IN_CONVERSATION = (
    select(_PICTURES.c.storage_key, _PICTURES.c.content_type)
    .join(_MESSAGES, _MESSAGES.c.id == _PICTURES.c.message_id)
    .where(
        _PICTURES.c.token == bindparam("token"), _MESSAGES.c.conversation_id == bindparam("conversation_id")
    )
)


@dataclass(frozen=True)
class PictureFile:
    data: bytes
    content_type: str


def _file(row) -> PictureFile | None:
    if row is None:
        return None
    data = storage().read(row.storage_key)
    return None if data is None else PictureFile(data, row.content_type)


def picture_file(token: str) -> PictureFile | None:
    """The picture's bytes, or None when unknown or erased."""
    return _file(db.session.execute(_BY_TOKEN, {"token": token}).first())


def picture_in_conversation(token: str, conversation_id: int) -> PictureFile | None:
    """The picture, when it belongs to a message of that conversation."""
    params = {"token": token, "conversation_id": conversation_id}
    return _file(db.session.execute(_BY_TOKEN_IN_CONVERSATION, params).first())


PICTURES_OF = (
    select(_PICTURES.c.message_id, _PICTURES.c.token, _PICTURES.c.width, _PICTURES.c.height)
    .where(_PICTURES.c.message_id.in_(bindparam("message_ids", expanding=True)))
    .order_by(_PICTURES.c.message_id, _PICTURES.c.id)
)


@dataclass(frozen=True)
class PictureRef:
    token: str
    width: int
    height: int


def pictures_of(message_ids: list[int]) -> dict[int, list[PictureRef]]:
    """The pictures of these messages, in one query."""
    found: dict[int, list[PictureRef]] = {}
    if not message_ids:
        return found
    for message_id, token, width, height in db.session.execute(PICTURES_OF, {"message_ids": message_ids}):
        found.setdefault(message_id, []).append(PictureRef(token, width, height))
    return found


def public_urls(message_id: int) -> list[str]:
    """Fresh public links to a message's pictures (for the provider, at sending time)."""
    return [public_url(ref.token) for ref in pictures_of([message_id]).get(message_id, [])]


def erase(message_ids: list[int]) -> int:
    """Delete the pictures of these messages, files and rows (retention); how many."""
    if not message_ids:
        return 0
    rows = db.session.execute(
        select(_PICTURES.c.id, _PICTURES.c.storage_key).where(_PICTURES.c.message_id.in_(message_ids))
    ).all()
    files = storage()
    for _, key in rows:
        files.delete(key)
    if rows:
        db.session.execute(delete(_PICTURES).where(_PICTURES.c.id.in_([ident for ident, _ in rows])))
    return len(rows)


# A contact's pictures ------------------------------------------------------------------------------

MAX_INBOUND_PICTURES = 10  # an MMS carries at most 10 media files (Plivo, Twilio)
# Seconds before the second and third tries of a download that failed for a passing reason.
INBOUND_RETRY_SECONDS = (60, 600)

_KEPT_LINKS = select(_PICTURES.c.source_url).where(_PICTURES.c.message_id == bindparam("message_id"))


def _kept_links(message_id: int) -> set[str]:
    return set(db.session.scalars(_KEPT_LINKS, {"message_id": message_id}))


def keep_inbound(message_id: int, attempt: int = 1) -> int | None:
    """Worker side: download an inbound message's media through its provider and keep the
    pictures among them. Returns the seconds before trying again (a download failed for a passing
    reason), or None when done."""
    message = db.session.get(Message, message_id)
    if message is None or message.direction != Direction.INBOUND or not message.media_urls:
        db.session.rollback()
        return None
    kept = _kept_links(message_id)
    links = [url for url in dict.fromkeys(message.media_urls[:MAX_INBOUND_PICTURES]) if url not in kept]
    provider_name = message.provider
    db.session.rollback()  # no transaction stays open while the provider is called
    try:
        provider = current_app.extensions["parley"].provider(provider_name or "")
    except PluginError:
        return None
    downloaded, try_again = [], False
    for url in links:
        try:
            downloaded.append((url, check_picture(io.BytesIO(provider.fetch_media(url, MAX_PICTURE_BYTES)))))
        except MediaUnavailable as exc:
            try_again = try_again or exc.transient
            log.info("message %s: media not downloaded (%s); its link stays", message_id, exc)
        except PictureError:
            log.info("message %s: a media file is not a JPEG, PNG or GIF; its link stays", message_id)
        except Exception:  # a plugin must not raise anything else, but one that does loses nothing
            log.exception("provider %s raised while fetching media of message %s", provider_name, message_id)
    if downloaded:
        # Locked, then checked again: a second worker may have kept them, retention erased them.
        message = db.session.get(Message, message_id, with_for_update=True, populate_existing=True)
        kept = _kept_links(message_id) if message is not None else set()
        fresh = [(url, picture) for url, picture in downloaded if url not in kept]
        if message is not None and message.erased_at is None and fresh:
            for url, picture in fresh:
                if url in message.media_urls:
                    store(message_id, picture, source_url=url)
            message.updated_at = utcnow()  # the open conversation's next refresh shows them
        db.session.commit()
    if try_again and attempt <= len(INBOUND_RETRY_SECONDS):
        return INBOUND_RETRY_SECONDS[attempt - 1]
    return None
