"""Each API key's rate limit, counted with the `limits` library (a fixed window per key, in the
store PARLEY_API_RATE_LIMIT_STORAGE names) by the API's own before-request hook: no request
outside the API pays for it. Keys that are not valid are counted per address as well (each
made-up key would otherwise have a budget of its own), without holding up valid keys.

A store that does not answer (Redis down) must not take the API down with it: requests then go
unlimited, and a warning says why.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app
from limits import RateLimitItem, parse, storage, strategies
from limits.errors import ConfigurationError as StoreRefused

from webapp.config import ConfigurationError

log = logging.getLogger(__name__)


class KeyRateLimit:
    """One per app: its settings and store."""

    def __init__(self, app: Flask) -> None:
        try:
            store = storage.storage_from_string(app.config["API_RATE_LIMIT_STORAGE"])
        except (StoreRefused, ValueError):  # refused at start-up, in one line
            # Not the store's own words: they repeat its URL, which may hold a password.
            scheme = app.config["API_RATE_LIMIT_STORAGE"].split(":", 1)[0]
            raise ConfigurationError(
                f"PARLEY_API_RATE_LIMIT_STORAGE cannot be used: {scheme!r} is not a store Parley knows "
                "(memory://, redis://), or its client library is not installed"
            ) from None
        self.limiter = strategies.FixedWindowRateLimiter(store)

    @staticmethod
    def limit() -> RateLimitItem:
        return parse(current_app.config["API_RATE_LIMIT"])  # parsed once: `limits` caches it

    def wait_seconds(self, key: str) -> int | None:
        """Count one request of `key`: None while it is within its limit, else the seconds until
        the window lets it through again."""
        limit = self.limit()
        try:
            if self.limiter.hit(limit, "api", key):
                return None
            reset_at, _remaining = self.limiter.get_window_stats(limit, "api", key)
        except Exception:  # whatever the store raises, the API stays up
            log.warning("the rate-limit store did not answer: this API request is not limited", exc_info=True)
            return None
        return max(1, math.ceil(reset_at - time.time()))
