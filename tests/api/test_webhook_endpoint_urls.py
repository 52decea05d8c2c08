"""An endpoint's URL is kept as one writes it, so the same endpoint written otherwise (a host in
capitals, the default port, a fragment) is found to be there already, not added twice."""

from __future__ import annotations

from sqlalchemy import select

from tests.admin.conftest import world  # noqa: F401
from webapp.extensions import db
from webapp.models import WebhookEndpoint
from webapp.services import webhooks


def add(app, url: str):
    return app.test_cli_runner().invoke(args=["webhooks", "add", url, "--office", "Admissions"])


def test_the_same_endpoint_written_otherwise_is_not_added_twice(app, world):  # noqa: F811
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    assert add(app, "HTTP://127.0.0.1:80/Hook?Crm=1#top").exit_code == 0
    assert db.session.scalars(select(WebhookEndpoint.url)).all() == ["http://127.0.0.1/Hook?Crm=1"]
    for same in (
        "http://127.0.0.1/Hook?Crm=1",
        "http://127.0.0.1:80/Hook?Crm=1",
        "Http://127.0.0.1/Hook?Crm=1#x",
    ):
        result = add(app, same)
        assert result.exit_code == 1 and "already has an endpoint for that URL" in result.output, same
    # A URL with no path posts to "/".
    assert add(app, "http://127.0.0.1").exit_code == 0
    assert "already has an endpoint" in add(app, "http://127.0.0.1/").output
    # The path and query are the CRM's to read: another case there is another endpoint.
    assert add(app, "http://127.0.0.1/hook?Crm=1").exit_code == 0
    assert add(app, "http://127.0.0.1:8080/Hook?Crm=1").exit_code == 0
    db.session.rollback()
    assert len(db.session.scalars(select(WebhookEndpoint.url)).all()) == 4


def test_an_endpoint_added_before_urls_were_written_plainly_is_found(app, world):  # noqa: F811
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    assert add(app, "http://127.0.0.1/hook").exit_code == 0
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    endpoint.url = "HTTP://127.0.0.1:80/hook"  # as an older Parley kept it
    db.session.commit()
    result = add(app, "http://127.0.0.1/hook#x")
    assert result.exit_code == 1 and "already has an endpoint for that URL" in result.output


def test_a_public_url_is_written_plainly_too(app):
    assert webhooks.check_url("HTTPS://[2606:4700::1111]:443/hook#a", allow_private=False) == (
        "https://[2606:4700::1111]/hook"
    )
    assert webhooks.check_url("https://[2606:4700::1111]:8443", allow_private=False) == (
        "https://[2606:4700::1111]:8443/"
    )
