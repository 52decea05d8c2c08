"""Small tools provider plugins share: the settings they need (credentials, an API base URL), the
webhook fields they need, the numbered media links their webhooks carry, and fetching those."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from webapp.plugin_api.interfaces import MediaUnavailable


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


def url_under(url: str, base: str) -> bool:
    """Is `url` one of `base`'s (same scheme, host and port, and a path below base's, with no
    `..` to climb out of it)?"""
    parts, root = urlsplit(url), urlsplit(base)
    prefix = root.path.rstrip("/") + "/"
    segments = parts.path.split("/")
    return (
        (parts.scheme, parts.netloc.lower()) == (root.scheme, root.netloc.lower())
        and parts.path.startswith(prefix)
        and ".." not in segments
        and "." not in segments
    )


def fetch_file(
    url: str, max_bytes: int, timeout: float, auth: tuple[str, str] | None = None, provider: str = ""
) -> bytes:
    """GET a file of at most `max_bytes`, or raise MediaUnavailable saying why (transient for a
    timeout, a network error, a 429 or a 5xx). Redirects are followed; `requests` drops `auth`
    when one leads to another host."""
    who = provider or urlsplit(url).netloc
    try:
        with requests.get(url, auth=auth, timeout=timeout, stream=True) as answer:
            if answer.status_code == 429 or answer.status_code >= 500:
                raise MediaUnavailable(f"{who} answered HTTP {answer.status_code}", transient=True)
            if answer.status_code != 200:
                raise MediaUnavailable(f"{who} answered HTTP {answer.status_code}")
            declared = answer.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise MediaUnavailable(f"the file is larger than {max_bytes} bytes")
            data = bytearray()
            for chunk in answer.iter_content(64 * 1024):
                data += chunk
                if len(data) > max_bytes:
                    raise MediaUnavailable(f"the file is larger than {max_bytes} bytes")
            return bytes(data)
    except requests.Timeout:
        raise MediaUnavailable(f"{who} did not answer within {timeout:g} seconds", transient=True) from None
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        raise MediaUnavailable(f"could not reach {who} (network error)", transient=True) from None
    except requests.RequestException as exc:
        raise MediaUnavailable(f"could not fetch the file: {exc.__class__.__name__}") from None
