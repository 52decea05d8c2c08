"""Parley: a 1:1 texting inbox. `create_app()` builds the Flask app; there is no module-level app."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import click
from dotenv import load_dotenv
from flask import Flask, Response, current_app, request
from flask_compress import Compress
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import transactions
from webapp.config import Config, ConfigurationError
from webapp.extensions import csrf, db, htmx, login_manager, migrate
from webapp.models.types import render_migration_item
from webapp.plugin_api.registry import PluginRefused, load_plugins
from webapp.queue import make_huey

ROOT = Path(__file__).resolve().parent.parent

# Flask-Compress: brotli or gzip, only when the client asks (Accept-Encoding), only for text,
# never for bodies under 500 bytes. Static files are streamed responses, hence the streaming list too.
# A config object may override any of these.
COMPRESSION = {
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    "COMPRESS_ALGORITHM_STREAMING": ["br", "gzip"],
    "COMPRESS_LEVEL": 6,  # gzip
    "COMPRESS_BR_LEVEL": 5,  # measured: smaller than gzip -6 on our CSS, JS and pages, no slower
    "COMPRESS_MIN_SIZE": 500,
    "COMPRESS_MIMETYPES": [
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "image/svg+xml",
    ],
    "COMPRESS_REGISTER": False,  # registered below, with the exceptions of _compress()
}


class StartupRefused(click.ClickException):
    """The environment's configuration is refused. The flask command shows it as one "Error: …"
    line naming the variable, with exit status 1: a traceback would only bury it."""


# What an operator fixes in the configuration, as the message says; any other failure is a bug
# and keeps its traceback.
REFUSALS = (ConfigurationError, PluginRefused)


def check_settings() -> None:
    """Refuse what create_app() would refuse in the environment, without building an app (no
    database engine, no threads): gunicorn's master checks once, before its workers each build one.
    The API's rate-limit store is read as the API reads it (`limits` makes its client; nothing
    connects to it, so a store that does not answer is not refused)."""
    from webapp.web.api.rate_limit import KeyRateLimit

    load_dotenv()
    try:
        config = Config(str(ROOT / "instance"))
        load_plugins(vars(config))
        make_huey(config.QUEUE_URL)
        KeyRateLimit(SimpleNamespace(config=vars(config)))  # it reads only app.config
    except REFUSALS as exc:
        raise StartupRefused(str(exc)) from exc


def create_app(config: object | None = None) -> Flask:
    """The app. Without `config` (the flask command, gunicorn) it reads the environment, and a
    refused setting raises StartupRefused; a given config (tests) raises the refusal itself."""
    if config is not None:
        return _build(config)
    try:
        return _build(None)
    except REFUSALS as exc:
        raise StartupRefused(str(exc)) from exc


def _build(config: object | None) -> Flask:
    load_dotenv()
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
    )
    app.config.from_object(config if config is not None else Config(app.instance_path))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    with app.app_context():
        transactions.init_app(app, db.engine)
    migrate.init_app(
        app,
        db,
        directory=str(ROOT / "migrations"),
        render_as_batch=True,
        render_item=render_migration_item,
    )
    login_manager.init_app(app)
    from webapp.web import request_limits

    request_limits.init_app(app)  # first: the CSRF check reads the body
    csrf.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        # Behind reverse proxies, the client's address (login throttling) is the one they forward.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"])
    htmx.init_app(app)
    for key, value in COMPRESSION.items():
        app.config.setdefault(key, value)
    # One Compress per app: it keeps the app's settings on itself when initialised.
    app.extensions["compress"] = Compress(app)
    app.after_request(_compress)

    from webapp.services.plugin_records import records
    from webapp.tasks import init_queue

    app.extensions["parley"] = load_plugins(app.config, records())
    init_queue(app)

    from webapp import cli, web

    web.register(app)
    cli.register(app)
    return app


def _compress(response: Response) -> Response:
    """Flask-Compress's own hook, except for /healthz (the benchmark baseline stays bare) and partial
    content (a 206's Content-Range counts uncompressed bytes)."""
    if request.endpoint == "health.healthz" or response.status_code == 206:
        return response
    body = response.response
    response = current_app.extensions["compress"].after_request(response)
    if response.response is not body and hasattr(body, "close"):
        # A streamed body (a static file) was wrapped in a compressing generator, or dropped for a 304:
        # closing the response must still close the file.
        response.call_on_close(body.close)
    return response
