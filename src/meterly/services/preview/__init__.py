"""Invoice previews: what the next invoice, a new subscription or a plan change would bill."""

from meterly.services.preview.invoice_preview import PreviewRequest, preview_invoice

__all__ = ["PreviewRequest", "preview_invoice"]
