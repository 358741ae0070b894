"""The invoice object on the wire (lago-api.md §7.7)."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from meterly.api.http import Payload
from meterly.api.schemas.customers import customer as customer_body
from meterly.api.schemas.fees import applied_tax_id, fee
from meterly.api.schemas.subscriptions import subscription as subscription_body
from meterly.api.wire import dec, iso, iso_date
from meterly.config import MissingSecretKey, Settings, with_secret_key
from meterly.services.billing import invoices as invoice_service
from meterly.services.credits import offsetted_amount_cents
from meterly.store.tables import (
    Charge,
    ChargeFilter,
    Customer,
    Fee,
    Invoice,
    InvoiceSubscription,
    Organization,
    Subscription,
)


class InvoiceUpdateIn(Payload):
    payment_status: str | None = None
    metadata: list[dict[str, Any]] | None = None


def sign(config: Settings, invoice_id: str, *, key: str | None = None) -> str:
    """The HMAC that lets a link open one invoice's documents without an API key."""
    message = f"meterly:invoice-document:{invoice_id}".encode()
    secret = key or config.signing_key
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_token(config: Settings, invoice_id: str, token: str | None) -> bool:
    """Signed with the current secret or a previous one still listed (rotation)."""
    return bool(token) and any(
        hmac.compare_digest(sign(config, invoice_id, key=key).encode(), (token or "").encode())
        for key in config.verification_keys
    )


def document_url(config: Settings, invoice_id: str, extension: str) -> str:
    """`{public_url}/api/v1/files/invoices/{id}.{pdf|html}?token=...`"""
    base = config.public_url.rstrip("/")
    token = sign(config, invoice_id)
    return f"{base}/api/v1/files/invoices/{quote(invoice_id)}.{extension}?token={token}"


class InvoiceLinks:
    """How the serializer learns the signed URLs of an invoice's documents."""

    def __init__(self, file_url: str | None = None, html_url: str | None = None) -> None:
        self.file_url = file_url
        self.html_url = html_url


def billing_period(period: InvoiceSubscription, sub: Subscription) -> dict[str, Any]:
    boundary = period.boundary
    start = period.from_datetime or period.charges_from_datetime or boundary
    end = period.to_datetime or period.charges_to_datetime or boundary
    return {
        "lago_subscription_id": sub.id,
        "external_subscription_id": sub.external_id,
        "lago_plan_id": sub.plan_id,
        "subscription_from_datetime": iso(start),
        "subscription_to_datetime": iso(end),
        "charges_from_datetime": iso(period.charges_from_datetime or start),
        "charges_to_datetime": iso(period.charges_to_datetime or end),
        "fixed_charges_from_datetime": None,
        "fixed_charges_to_datetime": None,
        "invoicing_reason": period.invoicing_reason,
    }


def invoice_applied_taxes(row: Invoice) -> list[dict[str, Any]]:
    result = []
    for tax in (row.breakdown or {}).get("applied_taxes") or []:
        code = tax.get("tax_code") or tax.get("code") or ""
        result.append(
            {
                "lago_id": tax.get("lago_id") or applied_tax_id(row.id, code),
                "lago_invoice_id": row.id,
                "lago_tax_id": tax.get("lago_tax_id") or tax.get("tax_id"),
                "tax_name": tax.get("tax_name") or tax.get("name"),
                "tax_code": code,
                "tax_rate": float(tax.get("tax_rate") or tax.get("rate") or 0),
                "tax_description": tax.get("tax_description") or tax.get("description"),
                "amount_cents": int(tax.get("amount_cents") or 0),
                "amount_currency": row.currency,
                "fees_amount_cents": int(
                    tax.get("fees_amount_cents") or tax.get("base_amount_cents") or 0
                ),
                "created_at": iso(row.created_at),
            }
        )
    return result


# Meterly's credit kinds -> Lago's credits[].item.type
_CREDIT_KINDS = {"progressive_billing": "invoice"}


def invoice_credits(row: Invoice) -> list[dict[str, Any]]:
    """Coupons and credit notes applied to the invoice (prepaid credits are not credits)."""
    result: list[dict[str, Any]] = []
    for credit in (row.breakdown or {}).get("credits") or []:
        stored_item = credit.get("item") or {}
        kind = stored_item.get("type") or credit.get("type") or credit.get("kind") or "coupon"
        kind = _CREDIT_KINDS.get(kind, kind)
        item_id = (
            stored_item.get("lago_item_id")
            or credit.get("lago_item_id")
            or credit.get("applied_coupon_id")
            or credit.get("credit_note_id")
        )
        before_taxes = credit.get("before_taxes")
        result.append(
            {
                "lago_id": credit.get("lago_id") or applied_tax_id(row.id, f"credit:{len(result)}"),
                "amount_cents": int(credit.get("amount_cents") or 0),
                "amount_currency": row.currency,
                "before_taxes": bool(kind == "coupon" if before_taxes is None else before_taxes),
                "item": {
                    "lago_item_id": item_id,
                    "type": kind,
                    "code": stored_item.get("code") or credit.get("code"),
                    "name": stored_item.get("name") or credit.get("name"),
                    "description": stored_item.get("description") or credit.get("description"),
                },
                "invoice": {"lago_id": row.id, "payment_status": row.payment_status},
            }
        )
    return result


def metadata(row: Invoice) -> list[dict[str, Any]]:
    return [
        {
            "lago_id": m.get("lago_id"),
            "key": m.get("key"),
            "value": m.get("value"),
            "created_at": m.get("created_at"),
        }
        for m in row.invoice_metadata or []
    ]


def invoice(
    session: Session,
    row: Invoice,
    *,
    include_fees: bool = True,
    links: InvoiceLinks | None = None,
) -> dict[str, Any]:
    org = session.get(Organization, row.organization_id)
    cust = session.get(Customer, row.customer_id)
    assert org is not None and cust is not None
    links = links or InvoiceLinks()
    body: dict[str, Any] = {
        "lago_id": row.id,
        "billing_entity_code": row.billing_entity_code,
        "sequential_id": row.sequential_id,
        "number": row.number or f"{org.document_number_prefix}-DRAFT",
        "purchase_order_number": None,
        "issuing_date": iso_date(row.issuing_date),
        "payment_due_date": iso_date(row.payment_due_date),
        "net_payment_term": row.net_payment_term,
        "invoice_type": row.invoice_type,
        "status": row.status,
        "payment_status": row.payment_status,
        "payment_dispute_lost_at": (row.breakdown or {}).get("payment_dispute_lost_at"),
        "payment_overdue": row.payment_overdue,
        "currency": row.currency,
        "fees_amount_cents": row.fees_amount_cents,
        "taxes_amount_cents": row.taxes_amount_cents,
        "progressive_billing_credit_amount_cents": row.progressive_billing_credit_amount_cents,
        "coupons_amount_cents": row.coupons_amount_cents,
        "credit_notes_amount_cents": row.credit_notes_amount_cents,
        "sub_total_excluding_taxes_amount_cents": row.sub_total_excluding_taxes_amount_cents,
        "sub_total_including_taxes_amount_cents": row.sub_total_including_taxes_amount_cents,
        "total_amount_cents": row.total_amount_cents,
        "total_due_amount_cents": invoice_service.amount_due_cents(session, row),
        "total_paid_amount_cents": row.total_paid_amount_cents,
        "total_offsetted_credit_note_amount_cents": offsetted_amount_cents(
            session, invoice_id=row.id
        ),
        "prepaid_credit_amount_cents": row.prepaid_credit_amount_cents,
        "prepaid_granted_credit_amount_cents": row.prepaid_credit_amount_cents,
        "prepaid_purchased_credit_amount_cents": 0,
        "file_url": links.file_url,
        "xml_url": None,
        "web_url": None,
        "version_number": 4,
        "self_billed": False,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "voided_at": iso(row.voided_at),
        "customer": customer_body(cust, org, None),
        "metadata": metadata(row),
        "applied_taxes": invoice_applied_taxes(row),
        "credits": invoice_credits(row),
        "error_details": [],
        "applied_invoice_custom_sections": [],
    }
    if include_fees:
        subs = _subscriptions(session, row)
        body["billing_periods"] = [
            billing_period(p, subs[p.subscription_id])
            for p in _sorted_periods(row)
            if p.subscription_id in subs
        ]
        body["subscriptions"] = [
            subscription_body(s, period=None, previous_plan=None, next_sub=None, plan_body=None)
            for s in subs.values()
        ]
        body["fees"] = [
            fee(
                f,
                with_taxes=False,
                external_customer_id=cust.external_id,
                external_subscription_id=subs[f.subscription_id].external_id
                if f.subscription_id in subs
                else None,
            )
            for f in row.fees
        ]
    return body


def invoice_payload(
    session: Session, row: Invoice, *, config: Settings | None = None
) -> dict[str, Any]:
    """The invoice as a webhook carries it (no request: links from the process settings)."""
    links = InvoiceLinks()
    if row.file_path:
        links.file_url = _worker_document_url(session, config, row.id)
    return invoice(session, row, include_fees=True, links=links)


def _worker_document_url(session: Session, config: Settings | None, invoice_id: str) -> str | None:
    """The PDF link signed with the server's secret (configured, or kept next to SQLite).

    The secret file is the one next to the database this session reads (the worker may
    name it with --database-url, not the environment). A worker on PostgreSQL without
    METERLY_SECRET_KEY cannot sign a link the server accepts: the webhook then carries no
    file_url, as Lago's does before its PDF exists.
    """
    served = session.get_bind().engine.url.render_as_string(hide_password=False)
    try:
        config = config or with_secret_key(Settings.from_env(), database_url=served)
    except MissingSecretKey:
        return None
    return document_url(config, invoice_id, "pdf")


def _sorted_periods(row: Invoice) -> list[InvoiceSubscription]:
    return sorted(row.periods, key=lambda p: (p.boundary, p.subscription_id))


def _subscriptions(session: Session, row: Invoice) -> dict[str, Subscription]:
    ids: list[str] = []
    for sub_id in [p.subscription_id for p in _sorted_periods(row)] + [
        f.subscription_id for f in row.fees if f.subscription_id
    ]:
        if sub_id and sub_id not in ids:
            ids.append(sub_id)
    result: dict[str, Subscription] = {}
    for sub_id in ids:
        sub = session.get(Subscription, sub_id)
        if sub is not None:
            result[sub_id] = sub
    return result


# --- past usage (customer_usage shape, rebuilt from the fees of finalized invoices) ------


def _charge_usage(session: Session, charge_id: str | None, fees: list[Fee]) -> dict[str, Any]:
    first = fees[0]
    stored = first.item or {}
    charge = session.get(Charge, charge_id) if charge_id else None
    metric = charge.billable_metric if charge is not None else None
    units = sum((f.units for f in fees), Decimal(0))
    has_filters = any(f.charge_filter_id for f in fees)
    plain = [f for f in fees if not (f.item or {}).get("grouped_by")]
    grouped: dict[tuple[tuple[str, Any], ...], list[Fee]] = {}
    for f in fees:
        key = tuple(sorted(((f.item or {}).get("grouped_by") or {}).items()))
        if key:
            grouped.setdefault(key, []).append(f)
    return {
        "units": dec(units),
        "total_aggregated_units": dec(units),
        "events_count": sum(f.events_count or 0 for f in fees),
        "amount_cents": sum(f.amount_cents for f in fees),
        "amount_currency": first.currency,
        "pricing_unit_details": None,
        "charge": {
            "lago_id": charge_id or "",
            "code": charge.code if charge else stored.get("code"),
            "charge_model": charge.charge_model if charge else "standard",
            "invoice_display_name": charge.invoice_display_name if charge else None,
        },
        "billable_metric": {
            "lago_id": metric.id if metric else stored.get("lago_item_id") or "",
            "name": metric.name if metric else stored.get("name") or "",
            "code": metric.code if metric else stored.get("code") or "",
            "aggregation_type": metric.aggregation_type if metric else "count_agg",
        },
        "filters": [_filter_usage(session, f) for f in plain] if has_filters else [],
        "grouped_usage": [
            {
                "units": dec(sum((f.units for f in rows), Decimal(0))),
                "total_aggregated_units": dec(sum((f.units for f in rows), Decimal(0))),
                "events_count": sum(f.events_count or 0 for f in rows),
                "amount_cents": sum(f.amount_cents for f in rows),
                "pricing_unit_details": None,
                "grouped_by": dict(key),
                "filters": [_filter_usage(session, f) for f in rows] if has_filters else [],
                "presentation_breakdowns": [],
            }
            for key, rows in grouped.items()
        ],
        "presentation_breakdowns": [],
    }


def _filter_usage(session: Session, row: Fee) -> dict[str, Any]:
    charge_filter = (
        session.get(ChargeFilter, row.charge_filter_id) if row.charge_filter_id else None
    )
    return {
        "units": dec(row.units),
        "total_aggregated_units": dec(row.total_aggregated_units or row.units),
        "events_count": row.events_count or 0,
        "amount_cents": row.amount_cents,
        "pricing_unit_details": None,
        "invoice_display_name": (row.item or {}).get("filter_invoice_display_name")
        or (charge_filter.invoice_display_name if charge_filter else None),
        "values": dict(charge_filter.values) if charge_filter else None,
        "presentation_breakdowns": [],
    }


def usage_period(
    session: Session, row: Invoice, period: InvoiceSubscription, fees: list[Fee]
) -> dict[str, Any]:
    by_charge: dict[str | None, list[Fee]] = {}
    for f in fees:
        by_charge.setdefault(f.charge_id, []).append(f)
    amount = sum(f.amount_cents for f in fees)
    taxes = sum(f.taxes_amount_cents for f in fees)
    start = period.charges_from_datetime or period.from_datetime or period.boundary
    end = period.charges_to_datetime or period.to_datetime or period.boundary
    return {
        "from_datetime": iso(start),
        "to_datetime": iso(end),
        "issuing_date": iso_date(row.issuing_date),
        "currency": row.currency,
        "amount_cents": amount,
        "total_amount_cents": amount + taxes,
        "taxes_amount_cents": taxes,
        "lago_invoice_id": row.id,
        "charges_usage": [_charge_usage(session, cid, rows) for cid, rows in by_charge.items()],
    }
