"""Small tools provider plugins share: the settings they need (credentials, an API base URL), the
webhook fields they need, the numbered media links their webhooks carry, and fetching those."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import requests

from webapp.plugin_api.interfaces import MediaUnavailable


def printable(text: str) -> str:
    """`text` with each character a terminal would not just print (an escape, a bell, a zero-width
    space) written as its Python escape: what others typed must not be able to drive a terminal."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


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
    `..` or `.` segment to climb out of it, written plainly or percent-encoded, and no encoded
    slash or backslash)?"""
    parts, root = urlsplit(url), urlsplit(base)
    prefix = root.path.rstrip("/") + "/"
    raw = parts.path.lower()
    segments = unquote(parts.path).split("/")
    return (
        (parts.scheme, parts.netloc.lower()) == (root.scheme, root.netloc.lower())
        and parts.path.startswith(prefix)
        and "\\" not in parts.path
        and "%2f" not in raw
        and "%5c" not in raw
        and ".." not in segments
        and "." not in segments
    )


MAX_REDIRECTS = 2
CHUNK_BYTES = 8 * 1024


def fetch_file(
    url: str, max_bytes: int, timeout: float, auth: tuple[str, str] | None = None, provider: str = ""
) -> bytes:
    """GET a file of at most `max_bytes`, or raise MediaUnavailable saying why (transient for a
    timeout, a network error, a 429 or a 5xx). `timeout` bounds each wait for the server; a
    download still running after three times `timeout` is abandoned (checked after every
    CHUNK_BYTES received). A redirect (a provider's storage host) is followed at most twice, only to https
    or to the same host, and `auth` goes only to the first URL's host; proxies and .netrc files
    of the environment are not used."""
    who = provider or urlsplit(url).netloc
    deadline = time.monotonic() + 3 * timeout
    origin = urlsplit(url)
    try:
        with requests.Session() as session:
            session.trust_env = False
            for _ in range(MAX_REDIRECTS + 1):
                target = urlsplit(url)
                same_host = (target.scheme, target.netloc) == (origin.scheme, origin.netloc)
                with session.get(
                    url, auth=auth if same_host else None, timeout=timeout, stream=True,
                    allow_redirects=False,
                ) as answer:  # fmt: skip
                    if answer.is_redirect:
                        url = urljoin(url, answer.headers.get("Location", ""))
                        if urlsplit(url).scheme != "https" and urlsplit(url).netloc != origin.netloc:
                            raise MediaUnavailable(f"{who} redirected to a link that is not https")
                        continue
                    return _read(answer, who, max_bytes, deadline, timeout)
            raise MediaUnavailable(f"{who} redirected more than {MAX_REDIRECTS} times")
    except requests.Timeout:
        raise MediaUnavailable(f"{who} did not answer within {timeout:g} seconds", transient=True) from None
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        raise MediaUnavailable(f"could not reach {who} (network error)", transient=True) from None
    except requests.RequestException as exc:
        raise MediaUnavailable(f"could not fetch the file: {exc.__class__.__name__}") from None


def _read(answer: requests.Response, who: str, max_bytes: int, deadline: float, timeout: float) -> bytes:
    if answer.status_code == 429 or answer.status_code >= 500:
        raise MediaUnavailable(f"{who} answered HTTP {answer.status_code}", transient=True)
    if answer.status_code != 200:
        raise MediaUnavailable(f"{who} answered HTTP {answer.status_code}")
    declared = answer.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > max_bytes):
        raise MediaUnavailable(f"the file is larger than {max_bytes} bytes")
    data = bytearray()
    for chunk in answer.iter_content(CHUNK_BYTES):
        data += chunk
        if len(data) > max_bytes:
            raise MediaUnavailable(f"the file is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise MediaUnavailable(f"{who} took over {3 * timeout:g} s to send the file", transient=True)
    return bytes(data)
