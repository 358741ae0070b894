"""A dashboard address that matches no page answers an HTML page, not the API's JSON 404.

Its router is included last (`meterly.web.dashboard`): it catches every GET no section
claimed, so a section included after it would never be reached.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from meterly.web import auth
from meterly.web.dashboard.common import _not_found, section_router

router = section_router()


@router.get("/{rest:path}")
def missing_page(rest: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed the request in (or sent it to sign in)
    if request.url.path.endswith("/"):
        # What Starlette's slash redirect did before this route caught every path.
        return RedirectResponse(request.url.path.rstrip("/") or "/", status_code=307)
    return _not_found(request, who, "page")
