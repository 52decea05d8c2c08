"""Plivo webhook signatures: V3 (and Ma-V3), with the legacy V2 only when no V3 header is present.

`verify` says which scheme signed a request; whether V2 is accepted at all is the provider's
setting. `nonce` is the signed nonce of that scheme: what makes the request unique.

Implemented here rather than with `plivo.utils.validate_v3_signature` so every comparison is
constant-time (`hmac.compare_digest`); the algorithm is the SDK's (plivo 4.63,
utils/signature_v3.py), and tests/plivo/test_signatures.py checks that they agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

V3_HEADERS = ("x-plivo-signature-v3", "x-plivo-signature-ma-v3")
V3_NONCE = "x-plivo-signature-v3-nonce"
V2_HEADERS = ("x-plivo-signature-v2", "x-plivo-signature-ma-v2")
V2_NONCE = "x-plivo-signature-v2-nonce"


def verify(
    method: str, url: str, headers: Mapping[str, str], form: Mapping[str, str], auth_token: str
) -> Literal["v3", "v2"] | None:
    """The scheme of a valid Plivo signature for `url` (the public URL called), else None.

    A request with a V3 header stands or falls by V3: a wrong V3 signature never falls back to V2,
    so an attacker cannot downgrade to the weaker scheme (V2 signs neither query nor body).
    """
    lower = _lowered(headers)
    if _signs_with_v3(lower):
        nonce = lower.get(V3_NONCE, "")
        expected = v3_signature(method, url, form, nonce, auth_token)
        valid = bool(nonce) and _any_matches(expected, (lower.get(h, "") for h in V3_HEADERS))
        return "v3" if valid else None
    if any(name in lower for name in V2_HEADERS):
        nonce = lower.get(V2_NONCE, "")
        expected = v2_signature(url, nonce, auth_token)
        valid = bool(nonce) and _any_matches(expected, (lower.get(h, "") for h in V2_HEADERS))
        return "v2" if valid else None
    return None


def nonce(headers: Mapping[str, str]) -> str:
    """The nonce of the scheme `verify` checks: V3's when a V3 header is present, else V2's."""
    lower = _lowered(headers)
    return lower.get(V3_NONCE if _signs_with_v3(lower) else V2_NONCE, "")


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _signs_with_v3(lower: Mapping[str, str]) -> bool:
    return any(name in lower for name in V3_HEADERS)


def v3_signature(
    method: str, url: str, form: Mapping[str, str], nonce: str, auth_token: str
) -> str:
    return _hmac_b64(auth_token, f"{v3_base_string(method, url, form)}.{nonce}")


def v3_base_string(method: str, url: str, form: Mapping[str, str]) -> str:
    """scheme://host/path, then "?" + the sorted query; for POST "." and the sorted form pairs."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if method.upper() == "GET":
        pairs = sorted([*query, *form.items()])
        return base + ("?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else "")
    sorted_query = "&".join(f"{k}={v}" for k, v in sorted(query))
    if not form:
        return base + (f"?{sorted_query}" if sorted_query else "")
    body = "".join(f"{key}{value}" for key, value in sorted(form.items()))
    return f"{base}?{sorted_query}{'.' if sorted_query else ''}{body}"


def v2_signature(url: str, nonce: str, auth_token: str) -> str:
    """Legacy V2: the URL without its query, followed by the nonce."""
    parts = urlsplit(url)
    return _hmac_b64(auth_token, f"{parts.scheme}://{parts.netloc}{parts.path}{nonce}")


def _hmac_b64(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _any_matches(expected: str, header_values: Iterable[str]) -> bool:
    """Each header may hold several comma-separated signatures; any one may match."""
    wanted = expected.encode()
    matched = False
    for value in header_values:
        for candidate in value.split(","):
            # Bytes, not str: compare_digest refuses non-ASCII str, and a garbled header is no 500.
            matched |= hmac.compare_digest(wanted, candidate.strip().encode("utf-8", "replace"))
    return matched
