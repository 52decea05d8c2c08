"""Small tools provider plugins share: the settings they need (credentials, an API base URL), the
webhook fields they need, and the numbered media links their webhooks carry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


def required_settings(config: Mapping[str, Any], provider: str, *names: str) -> list[str]:
    """The settings' values, stripped; a ValueError naming every one that is not set (never their
    values), which stops Parley's start-up with that message."""
    values = [str(config.get(name) or "").strip() for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ValueError(f"{provider} is enabled but {' and '.join(missing)} {verb} not set")
    return values


def url_setting(config: Mapping[str, Any], name: str, default: str) -> str:
    """An http(s) base URL setting (e.g. an API's, which tests point at a fake), without a trailing
    slash; a ValueError when it is something else."""
    url = str(config.get(name) or default).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL, not {url!r}")
    return url


def required_fields(form: Mapping[str, str], *names: str) -> None:
    """A ValueError naming the webhook's missing fields: Parley answers 400 with it."""
    missing = [name for name in names if not (form.get(name) or "").strip()]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")


def numbered_links(form: Mapping[str, str], prefix: str) -> tuple[str, ...]:
    """The links in the fields named `prefix` and a number (Media1, MediaUrl0…), in the numbers'
    order (10 after 2); only http(s) links, since Parley shows them as links."""
    numbered = []
    for key, value in form.items():
        found = re.fullmatch(re.escape(prefix) + r"(\d{1,3})", key)
        url = (value or "").strip()
        if found and urlsplit(url).scheme in ("http", "https"):
            numbered.append((int(found.group(1)), url))
    return tuple(url for _, url in sorted(numbered))
