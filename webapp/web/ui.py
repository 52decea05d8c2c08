"""Template helpers of the UI: icons from the SVG sprite, initials avatars, and where focus goes
when a form comes back with errors.

All are Jinja globals returning markup, so templates need no imports and a list of rows pays
one function call per avatar, no template include."""

from __future__ import annotations

import zlib

from flask import Flask, g
from markupsafe import Markup, escape

SPRITE = "icons/sprite.svg"
AVATAR_COLOURS = 6  # .avatar-0 … .avatar-5 in app.css, each with AA contrast for its text


def register(app: Flask) -> None:
    sprite = f"{app.static_url_path}/{SPRITE}"

    def icon(name: str, css_class: str = "") -> Markup:
        """A decorative icon (aria-hidden): the text beside it, or a visually hidden one, names it."""
        classes = f"icon {css_class}" if css_class else "icon"
        use = f'<use href="{sprite}#{escape(name)}"></use>'
        return Markup(f'<svg class="{classes}" aria-hidden="true">{use}</svg>')

    def avatar(name: str, css_class: str = "") -> Markup:
        """Initials on a colour chosen by the name (the same name, the same colour); for a
        contact known only by number, an empty one that app.css fills with a person icon.
        Decorative: the name is written beside it."""
        colour = zlib.crc32((name or "").encode()) % AVATAR_COLOURS
        classes = f"avatar avatar-{colour} {css_class}".rstrip()
        return Markup(f'<span class="{classes}" aria-hidden="true">{escape(initials(name or ""))}</span>')

    app.jinja_env.globals["icon"] = icon
    app.jinja_env.globals["avatar"] = avatar
    app.jinja_env.globals["autofocus_first_error"] = autofocus_first_error


def autofocus_first_error() -> Markup:
    """`autofocus` for the first invalid field (or form-wide error) a response renders, nothing
    for the others: the browser focuses it when the page loads and htmx when it swaps it in, with
    no script of ours, so a screen reader starts at the error. HTML allows one per page."""
    if g.get("error_focused"):
        return Markup("")
    g.error_focused = True
    return Markup("autofocus")


def initials(name: str) -> str:
    """"Maria Garcia" → "MG", "Lee" → "L"; a name without letters (a phone number) → ""."""
    words = [word for word in name.replace("-", " ").split() if word[:1].isalpha()]
    if not words:
        return ""
    letters = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    return letters.upper()

