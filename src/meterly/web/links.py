"""Signed links the web pages hand out (invoice documents)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from meterly.config import Settings

_Signer = Callable[[Settings, str, str], str]


def _signer() -> _Signer:
    # The invoice-document signer lives with the invoice serializers (it used to live in
    # the files routes): take it from wherever this version of the API keeps it.
    for name in ("meterly.api.schemas.invoices", "meterly.api.routes.files"):
        found = getattr(importlib.import_module(name), "document_url", None)
        if found is not None:
            return cast(_Signer, found)
    raise RuntimeError("no invoice document signer")  # pragma: no cover


def invoice_pdf_url(config: Settings, invoice_id: str) -> str:
    """The signed link that opens one invoice's PDF without an API key."""
    return _signer()(config, invoice_id, "pdf")
