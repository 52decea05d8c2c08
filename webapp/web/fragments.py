"""Rows rendered once and reused while what they show is unchanged (fragment caching).

A poll that finds a change renders its whole fragment again: the inbox list or the thread. Yet
a change touches one row or one message, and every other comes out exactly as before, for this
agent and for each colleague who sees the same conversations. So a row is a macro of its values
only (a tuple, and whatever else the macro reads, passed in as arguments), and its markup is kept
under those values: an unchanged row costs a dictionary lookup instead of a render. A row whose
values changed has another key, so nothing shown is ever stale; old keys simply age out.

In templates: `{{ fragment("inbox/_rows.html", "conversation_row", row) }}`. The cache belongs
to the app, in each process, and holds the most recently used FRAGMENT_CACHE_SIZE rows. A row
that is new on every render (a form's CSRF token is signed anew each second) passes
`cache=False`; nothing is kept while templates reload (debug).
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, get_template_attribute, request
from markupsafe import Markup


def register(app: Flask) -> None:
    # Relative links depend on where the app is mounted: that is part of the key too.
    @lru_cache(maxsize=app.config["FRAGMENT_CACHE_SIZE"])
    def rendered(template: str, macro: str, script_root: str, values: tuple) -> Markup:
        return get_template_attribute(template, macro)(*values)

    def fragment(template: str, macro: str, *values: object, cache: bool = True) -> Markup:
        if not cache or app.jinja_env.auto_reload:
            return get_template_attribute(template, macro)(*values)
        return rendered(template, macro, request.script_root, values)

    app.jinja_env.globals["fragment"] = fragment
    app.extensions["parley_fragments"] = rendered  # its cache_info() counts hits and misses
