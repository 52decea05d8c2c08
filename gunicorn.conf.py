"""Gunicorn settings for every way Parley is served (`make run`, `make bench`, the fault tests).

Gunicorn reads this file from the directory it starts in; options given on its command line win.
"""

import gc
import os

from dotenv import load_dotenv

from webapp.config import ConfigurationError, switch

load_dotenv()  # as the app does: a .env file may supply Parley's settings

# Sync workers, as many as gunicorn's documentation suggests to start with: two per core and one
# more, so that while some wait for the database the others keep the cores busy. gunicorn's own
# WEB_CONCURRENCY, or --workers, chooses another number.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1) + 1)

# A request line of up to 8 KB (gunicorn's own default: 4 KB), so that a CRM's embed launch link
# with a token over the 4 KB Parley takes gets Parley's 403 page saying so, not a bare 414.
limit_request_line = 8190

# One line per request only when PARLEY_ACCESS_LOG is on: the inbox polls every 3 s, and the lines
# would bury the console provider's texts.
try:
    accesslog = "-" if switch(os.environ, "PARLEY_ACCESS_LOG", False) else None
except ConfigurationError:
    accesslog = None  # on_starting refuses the value, in one line


def post_worker_init(worker) -> None:
    """The app's modules, routes and compiled statements live as long as the worker: keep them out
    of garbage collection, or every full collection walks all of them again."""
    gc.freeze()


def on_starting(server) -> None:
    """A refused setting stops gunicorn here, in one line naming the variable, before any worker
    starts: each worker would otherwise print a traceback of its own before giving up."""
    from webapp import StartupRefused, check_settings

    try:
        check_settings()
    except StartupRefused as refused:
        server.halt(reason=refused.message, exit_status=1)
