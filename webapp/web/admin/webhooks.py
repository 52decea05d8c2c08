"""Activity webhooks of the admin's offices: add an endpoint (its secret is shown once), read its
delivery log, redeliver an event, disable an endpoint, and enable one that was disabled (by an
admin, or after a day of failures), rotate its signing secret (the new one shown once), delete it."""

from __future__ import annotations

from flask import abort, current_app, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.models import utcnow
from webapp.services import webhooks
from webapp.services.admin import my_office_ids, my_offices
from webapp.web.admin import bp, conflicted, done, form_id, rejected
from webapp.web.rendering import render_screen

LIST = "admin/webhooks.html"
DETAIL = "admin/webhook.html"


def _list(form: dict, errors: dict, status: int = 200, created=None, warning: str | None = None):
    offices = my_offices(current_user)
    return render_screen(
        LIST, "webhook_form", status=status, offices=offices,
        endpoints=webhooks.endpoints_of_offices({office.id for office in offices}),
        event_types=webhooks.EVENT_TYPES, form=form, errors=errors, created=created,
        warning=warning, allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"],
    )  # fmt: skip


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks_index():
    empty = {"url": "", "office_id": "", "events": []}
    if request.method == "GET":
        return _list(empty, {})
    form = {
        "url": request.form.get("url", ""),
        "office_id": request.form.get("office_id", ""),
        "events": request.form.getlist("events"),
    }
    offices = {office.id: office for office in my_offices(current_user)}
    office_id = form_id("office_id")
    errors = {}
    if office_id not in offices:
        errors["office_id"] = "Choose one of your offices."
        try:  # the URL's error shown too, not after the office is fixed
            webhooks.check_url(form["url"], current_app.config["WEBHOOK_ALLOW_PRIVATE"])
        except webhooks.UnresolvedHost:
            pass  # only a warning once the endpoint is added
        except webhooks.WebhookError as exc:
            errors["url"] = str(exc)
    else:
        try:
            added = webhooks.add_endpoint(
                form["url"], offices[office_id], form["events"], current_user,
                allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"],
            )  # fmt: skip
        except webhooks.WebhookError as exc:
            errors["url"] = str(exc)
    if errors:
        return _list(form, errors, status=rejected())
    db.session.commit()
    # The secret is shown on this answer only.
    return _list(empty, {}, created=added.endpoint, warning=added.warning)


def _endpoint(endpoint_id: int):
    endpoint = webhooks.endpoint_in(my_office_ids(current_user), endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


def _detail(endpoint, status: int = 200, **shown):
    return render_screen(
        DETAIL, "delivery_log", status=status, endpoint=endpoint,
        deliveries=webhooks.delivery_log(endpoint),
        previous_signs_until=webhooks.previous_secret_signs_until(endpoint, utcnow()), **shown,
    )  # fmt: skip


@bp.get("/webhooks/<int:endpoint_id>")
def webhook_detail(endpoint_id: int):
    return _detail(_endpoint(endpoint_id))


@bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver")
def webhook_redeliver(endpoint_id: int, delivery_id: int):
    endpoint = _endpoint(endpoint_id)
    try:
        found = webhooks.redeliver(endpoint, delivery_id)
    except webhooks.WebhookError as exc:
        return _detail(_endpoint(endpoint_id), conflicted(), redeliver_error=str(exc))
    if found is None:
        abort(404)
    return done("Queued for delivery again.", url_for("admin.webhook_detail", endpoint_id=endpoint.id))


@bp.post("/webhooks/<int:endpoint_id>/disable")
def webhook_disable(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    if endpoint.active:
        webhooks.disable(endpoint, current_user)
    return done("Endpoint disabled: no events are posted to it until it is enabled again.",
                url_for("admin.webhook_detail", endpoint_id=endpoint.id))  # fmt: skip


@bp.post("/webhooks/<int:endpoint_id>/enable")
def webhook_enable(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    webhooks.enable(endpoint, current_user)
    return done("Endpoint enabled: its next events will be delivered.",
                url_for("admin.webhook_detail", endpoint_id=endpoint.id))  # fmt: skip


@bp.post("/webhooks/<int:endpoint_id>/rotate-secret")
def webhook_rotate_secret(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    try:
        secret = webhooks.rotate_secret(endpoint, current_user)
    except webhooks.WebhookError as exc:
        return _detail(_endpoint(endpoint_id), conflicted(), rotate_error=str(exc))
    db.session.commit()
    # The new secret is shown on this answer only (a flash would keep it in the session cookie).
    return _detail(endpoint, new_secret=secret)


@bp.post("/webhooks/<int:endpoint_id>/stop-previous-secret")
def webhook_stop_previous_secret(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    stopped = webhooks.stop_previous_secret(endpoint, current_user)
    message = "The previous secret no longer signs." if stopped else "The previous secret had stopped."
    return done(message, url_for("admin.webhook_detail", endpoint_id=endpoint.id))


@bp.get("/webhooks/<int:endpoint_id>/delete")
def webhook_delete_confirm(endpoint_id: int):
    """The step before a deletion: the endpoint and its delivery log go for good, so it asks."""
    return _detail(_endpoint(endpoint_id), confirm_delete=True)


@bp.post("/webhooks/<int:endpoint_id>/delete")
def webhook_delete(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    url = endpoint.url
    webhooks.delete_endpoint(endpoint, current_user)
    return done(f"Endpoint {url} deleted: no more events are posted to it.",
                url_for("admin.webhooks_index"))  # fmt: skip
