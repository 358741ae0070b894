"""The web interfaces served next to the API: the customer portal and the operator dashboard.

`install_web(app)` mounts both (and their static files) on the API's FastAPI app;
`meterly.web.app:create_app` is the factory that serves API and web together.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from meterly.web.templating import STATIC_DIR


def install_web(app: FastAPI) -> None:
    """Mount /portal, /dashboard and /static on the app (idempotent)."""
    if getattr(app.state, "web_installed", False):
        return
    from meterly.web import auth, dashboard, payments, portal, security

    app.state.web_installed = True
    app.include_router(portal.router)
    app.include_router(payments.router)  # the hosted payment page
    app.include_router(dashboard.router)
    auth.install_handlers(app)  # the dashboard's sign-in redirect and 403 page
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    security.install(app)  # CSP, frame and referrer headers on these pages (web/security.py)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/dashboard", status_code=303)
