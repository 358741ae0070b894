"""The web interfaces served next to the API: the customer portal and the operator dashboard.

`install_web(app)` mounts both (and their static files) on the API's FastAPI app;
`meterly.web.app:create_app` is the factory that serves API and web together.
"""

from __future__ import annotations

import functools

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from meterly.web.templating import STATIC_DIR


@functools.cache
def _web_routes() -> tuple[BaseRoute, ...]:
    """The portal, the hosted payment page and the dashboard, assembled once per process
    (as api/app.py does for the API: the routes keep no state of an app)."""
    from meterly.web import dashboard, payments, portal

    assembled = APIRouter()
    assembled.include_router(portal.router)
    assembled.include_router(payments.router)  # the hosted payment page
    assembled.include_router(dashboard.router)
    return tuple(assembled.routes)


def install_web(app: FastAPI) -> None:
    """Mount /portal, /dashboard and /static on the app (idempotent)."""
    if getattr(app.state, "web_installed", False):
        return
    from meterly.web import auth, security

    app.state.web_installed = True
    app.router.routes.extend(_web_routes())
    auth.install_handlers(app)  # the dashboard's sign-in redirect and 403 page
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    security.install(app)  # CSP, frame and referrer headers on these pages (web/security.py)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/dashboard", status_code=303)
