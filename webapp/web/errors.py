"""Error answers: one page for every refusal, shown in place of the page's main part under htmx."""

from __future__ import annotations

from flask import Response, render_template, request


def error_page(
    status: int, title: str, detail: str, new_tab_url: str | None = None
) -> Response | tuple[str, int, dict[str, str]]:
    """The error page; plain text for webhooks (providers log it). An htmx request is asked to put
    the page's main part in place of its own: htmx swaps no 4xx by itself, and static/js/app.js
    swaps a refusal that says where it goes, so a refused button never silently does nothing."""
    if request.path.startswith("/api/"):
        from webapp.web.api.problems import problem

        return problem(status, title, detail)
    if request.blueprint == "webhooks":
        return Response(detail, status=status, mimetype="text/plain")
    page = render_template(
        "errors/error.html", status=status, title=title, detail=detail, new_tab_url=new_tab_url
    )
    headers = {}
    if request.headers.get("HX-Request"):
        headers = {"HX-Retarget": "#main", "HX-Reswap": "outerHTML", "HX-Reselect": "#main"}
    return page, status, headers
