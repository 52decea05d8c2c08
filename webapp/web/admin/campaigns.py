"""Campaign records: upload a contact list, preview it, save it as a draft, launch, archive,
browse its contacts."""

from __future__ import annotations

from flask import Response, abort, flash, request, url_for
from flask_login import current_user

from webapp.models import Campaign, CampaignImport, ImportStatus
from webapp.services.admin import Conflict, FormErrors, Unavailable, my_offices
from webapp.services.admin import campaigns as service
from webapp.services.dbutil import row_id
from webapp.web.admin import bp, conflicted, done, form_id, invalid, owned, retry_later, unavailable
from webapp.web.rendering import render_screen, wants_fragment
from webapp.web.request_limits import body_limit

LIST = "admin/campaigns.html"
NEW = "admin/campaign_new.html"
PREVIEW = "admin/campaign_import.html"
DETAIL = "admin/campaign.html"
PROGRESS = "admin/partials/import_progress.html"


def _cursor(name: str) -> int | None:
    return row_id(request.args.get(name))


# What the upload page tells the browser, so that a file too big is refused before it is sent.
UPLOAD_LIMIT = {"bytes": service.MAX_UPLOAD_BYTES, "too_large": service.TOO_LARGE}


@bp.get("/campaigns")
def campaigns_index():
    return render_screen(
        LIST,
        "admin_content",
        rows=service.list_campaigns(current_user),
        uploads=service.pending_uploads(current_user),
    )


@bp.route("/campaigns/new", methods=["GET", "POST"])
@body_limit(service.MAX_UPLOAD_BODY_BYTES, service.TOO_LARGE)
def campaign_new():
    offices = my_offices(current_user)
    form = {"name": "", "office_id": offices[0].id if len(offices) == 1 else None, "kept": ""}
    if request.method == "POST":
        form = {
            "name": request.form.get("name", ""),
            "office_id": form_id("office_id"),
            # The upload kept from a try the queue could not take, used unless another is chosen.
            "kept": request.form.get("kept_upload", ""),
            "kept_filename": request.form.get("kept_filename", "")[:255],
        }
        upload = request.files.get("file")
        try:
            job_id = service.start_import(
                current_user,
                form["name"],
                form["office_id"],
                upload.stream if upload else None,
                upload.filename if upload else "",
                kept=form["kept"],
                kept_filename=form["kept_filename"],
            )
        except service.UploadKept as exc:
            form.update(kept=exc.token, kept_filename=exc.filename)
            status = unavailable()
            return retry_later(
                render_screen(
                    NEW, "upload_form", status=status, form=form, errors={}, offices=offices,
                    limit=UPLOAD_LIMIT, notice=str(exc),
                )  # fmt: skip
            )
        except FormErrors as exc:
            if not service.kept_upload(form["kept"]):
                form["kept"] = ""
            return invalid(
                NEW, "upload_form", form=form, errors=exc.errors, offices=offices, limit=UPLOAD_LIMIT
            )
        return done(
            "File uploaded. Check the preview, then save it as a draft.",
            url_for("admin.campaign_import", import_id=job_id),
        )
    return render_screen(NEW, "upload_form", form=form, errors={}, offices=offices, limit=UPLOAD_LIMIT)


def _preview(job: CampaignImport, status: int = 200, error: str | None = None) -> Response:
    after = _cursor("after")
    page = service.row_errors(job, after)
    block = "error_rows" if after is not None else "admin_content"
    return render_screen(
        PREVIEW,
        block,
        status=status,
        job=job,
        page=page,
        sample=service.sample_rows(job) if job.status == "ready" else [],
        error=error,
    )


@bp.get("/campaigns/imports/<int:import_id>")
def campaign_import(import_id: int):
    return _preview(owned(service.import_for_admin, import_id))


def _finished(job: CampaignImport) -> str:
    """What the page says first once a check or an import has ended: it reloads to show the result,
    so focus starts on this (the layout's flashed message), which is read out."""
    if job.status == ImportStatus.DONE:
        return f"The import is finished: {job.imported_rows:,} contacts imported."
    if job.status == ImportStatus.CANCELLED:
        return "The import was cancelled."
    if job.status == ImportStatus.REJECTED:
        return "Every row is checked: none can be imported (see why below)."
    return (
        f"Every row is checked: {job.valid_rows:,} ready to import, {job.invalid_rows:,} invalid. "
        "Check the preview below."
    )


@bp.get("/campaigns/imports/<int:import_id>/progress")
def campaign_import_progress(import_id: int):
    """Polled while a check or an import runs; when it ends, the page reloads to show the result."""
    job = owned(service.import_for_admin, import_id)
    if not job.in_progress and wants_fragment():
        if job.status == ImportStatus.FAILED:  # its draft campaign is gone: the import says why
            url = url_for("admin.campaign_import", import_id=job.id)
            return Response(status=200, headers={"HX-Redirect": url})
        flash(_finished(job))
        return Response(status=200, headers={"HX-Refresh": "true"})
    return render_screen(PROGRESS, "progress", job=job)


@bp.post("/campaigns/imports/<int:import_id>/save")
def campaign_import_save(import_id: int):
    job = owned(service.import_for_admin, import_id)
    try:
        campaign_id = service.save_as_draft(current_user, job)
    except Conflict as exc:
        status = conflicted()
        return _preview(owned(service.import_for_admin, import_id), status, str(exc))
    except Unavailable as exc:  # the checked list stays ready to save
        status = unavailable()
        return retry_later(_preview(owned(service.import_for_admin, import_id), status, str(exc)))
    return done(
        "Saved as a draft. Launch it once its contacts are imported; this page shows the progress.",
        url_for("admin.campaign_detail", campaign_id=campaign_id),
    )


@bp.post("/campaigns/imports/<int:import_id>/cancel")
def campaign_import_cancel(import_id: int):
    job = owned(service.import_for_admin, import_id)
    try:
        service.cancel_import(current_user, job)
    except Conflict as exc:
        status = conflicted()
        return _preview(owned(service.import_for_admin, import_id), status, str(exc))
    return done("Upload discarded; nothing was saved.", url_for("admin.campaigns_index"))


def _campaign_page(campaign: Campaign, status: int = 200, error: str | None = None) -> Response:
    query = (request.args.get("q") or "").strip()[:100]
    after = _cursor("after")
    if after is not None:
        block = "contact_rows"
    elif request.headers.get("HX-Target") == "contact-results":
        block = "contact_results"
    else:
        block = "admin_content"
    return render_screen(
        DETAIL,
        block,
        status=status,
        campaign=campaign,
        job=service.latest_import(campaign),
        page=service.search_contacts(campaign, query, after),
        query=query,
        error=error,
    )


@bp.get("/campaigns/<int:campaign_id>")
def campaign_detail(campaign_id: int):
    return _campaign_page(owned(service.campaign_for_admin, campaign_id))


@bp.post("/campaigns/<int:campaign_id>/<action>")
def campaign_action(campaign_id: int, action: str):
    if action not in ("launch", "archive"):
        abort(404)
    campaign = owned(service.campaign_for_admin, campaign_id)
    try:
        if action == "launch":
            service.launch(current_user, campaign)
        else:
            service.archive(current_user, campaign)
    except Conflict as exc:
        status = conflicted()
        campaign = owned(service.campaign_for_admin, campaign_id)
        return _campaign_page(campaign, status, str(exc))
    message = (
        f"{campaign.name} is launched: its contacts show by name in the inbox."
        if action == "launch"
        else f"{campaign.name} is archived."
    )
    return done(message, url_for("admin.campaign_detail", campaign_id=campaign.id))
