"""Invoice documents: one context of display strings, drawn as a PDF (fpdf2) or as HTML.

`invoice_context` reads an invoice and everything it shows into plain, already
formatted strings; `render_pdf` lays that context out with fpdf2's table API, and the
HTML view (the Jinja2 template `templates/invoice.html`, rendered at the HTTP boundary
because the services layer does not import the web stack) reads the same keys.
PDFs are stored under the files directory (`METERLY_FILES_DIR`, default `var/files`).
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlalchemy.orm import Session

from meterly.domain.money import currency
from meterly.services.billing import amount_due_cents
from meterly.services.billing import invoices as invoice_service
from meterly.services.common import Clock
from meterly.store.tables import Customer, Invoice, Organization, Subscription

TEMPLATES_DIR = Path(__file__).parent / "templates"
FILES_DIR_ENV = "METERLY_FILES_DIR"
DEFAULT_FILES_DIR = "var/files"

_ADDRESS_KEYS = ("address_line1", "address_line2", "zipcode", "city", "state", "country")


def files_dir(override: str | os.PathLike[str] | None = None) -> Path:
    return Path(override or os.environ.get(FILES_DIR_ENV) or DEFAULT_FILES_DIR)


# --- formatting ----------------------------------------------------------------------------


def _decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return Decimal(0)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(0)


def format_major(value: object, code: str, *, precise: bool = False) -> str:
    """A major-unit amount: `1,234.50 USD`, `1,000 JPY`, `1.234 KWD`.

    `precise` keeps the digits of a unit price beyond the currency's minor unit.
    """
    exponent = currency(code).exponent
    amount = _decimal(value)
    digits = -int(amount.normalize().as_tuple().exponent)
    places = max(exponent, digits) if precise else exponent
    quantized = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{quantized:,.{places}f} {code}"


def format_money(cents: int, code: str) -> str:
    """Integer minor units with the currency's exponent (JPY 0, EUR 2, KWD 3)."""
    return format_major(Decimal(cents).scaleb(-currency(code).exponent), code)


def format_quantity(value: object) -> str:
    amount = _decimal(value).normalize()
    if amount == amount.to_integral_value():
        return f"{amount.to_integral_value():,f}"
    return f"{amount:,f}"


def format_date(value: datetime | None) -> str:
    return value.astimezone(UTC).date().isoformat() if value else ""


# --- the context -----------------------------------------------------------------------------


def _party(
    name: str | None, fallback: str, profile: Mapping[str, Any], email: str | None
) -> dict[str, Any]:
    lines = [str(profile[k]) for k in _ADDRESS_KEYS if profile.get(k)]
    legal = [
        f"{label}: {profile[key]}"
        for key, label in (
            ("legal_name", "Legal name"),
            ("legal_number", "Legal number"),
            ("tax_identification_number", "Tax ID"),
        )
        if profile.get(key)
    ]
    return {
        "name": name or fallback,
        "lines": lines + ([email] if email else []) + legal,
    }


def _fee_name(item: Mapping[str, Any], fee_type: str) -> str:
    name = str(item.get("invoice_display_name") or item.get("name") or item.get("code") or fee_type)
    extra = item.get("filter_invoice_display_name")
    if not extra and isinstance(item.get("filters"), dict):
        extra = ", ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in item["filters"].items()
        )
    grouped = item.get("grouped_by")
    if isinstance(grouped, dict) and grouped:
        extra = " ".join(filter(None, [extra, ", ".join(f"{k}: {v}" for k, v in grouped.items())]))
    return f"{name} ({extra})" if extra else name


def _tier_lines(explanation: Sequence[Any], code: str) -> list[dict[str, str]]:
    lines = []
    for line in explanation or []:
        if not isinstance(line, Mapping):
            continue
        lines.append(
            {
                "label": str(line.get("label", "")),
                "units": format_quantity(line.get("units", 0)),
                "unit_price": format_major(line.get("unit_price", 0), code, precise=True),
                "flat_amount": format_major(line.get("flat_amount", 0), code),
                "amount": format_major(line.get("amount", 0), code),
            }
        )
    return lines


def invoice_context(session: Session, invoice: Invoice) -> dict[str, Any]:
    """Everything an invoice document shows, as display strings."""
    org = session.get(Organization, invoice.organization_id)
    cust = session.get(Customer, invoice.customer_id)
    assert org is not None and cust is not None
    code = invoice.currency
    breakdown = invoice.breakdown or {}

    periods = []
    for period in sorted(invoice.periods, key=lambda p: (p.boundary, p.subscription_id)):
        sub = session.get(Subscription, period.subscription_id)
        if sub is None:
            continue
        start = period.from_datetime or period.charges_from_datetime or period.boundary
        end = period.to_datetime or period.charges_to_datetime or period.boundary
        periods.append(
            {
                "subscription": sub.name or sub.plan.invoice_display_name or sub.plan.name,
                "external_id": sub.external_id,
                "from": format_date(start),
                "to": format_date(end),
                "charges_from": format_date(period.charges_from_datetime or start),
                "charges_to": format_date(period.charges_to_datetime or end),
            }
        )

    fees = [
        {
            "name": _fee_name(fee.item or {}, fee.fee_type),
            "type": fee.fee_type,
            "period": (
                f"{format_date(fee.from_datetime)} to {format_date(fee.to_datetime)}"
                if fee.from_datetime and fee.to_datetime
                else ""
            ),
            "units": format_quantity(fee.units),
            "unit_price": format_major(fee.precise_unit_amount, code, precise=True),
            "amount": format_money(fee.amount_cents, code),
            "tiers": _tier_lines(fee.explanation, code),
        }
        for fee in invoice.fees
    ]

    credits = [_credit_line(c, code) for c in breakdown.get("credits") or []]
    taxes = [_tax_line(t, code) for t in breakdown.get("applied_taxes") or []]
    prepaid = [
        {
            "label": str(w.get("name") or w.get("wallet_name") or "Prepaid credits"),
            "amount": "-" + format_money(int(w.get("amount_cents") or 0), code),
        }
        for w in breakdown.get("wallets") or []
    ]
    if not prepaid and invoice.prepaid_credit_amount_cents:
        prepaid = [
            {
                "label": "Prepaid credits",
                "amount": "-" + format_money(invoice.prepaid_credit_amount_cents, code),
            }
        ]

    due = amount_due_cents(session, invoice)
    totals = [
        ("Fees", format_money(invoice.fees_amount_cents, code)),
    ]
    if invoice.progressive_billing_credit_amount_cents:
        totals.append(
            (
                "Usage already billed",
                "-" + format_money(invoice.progressive_billing_credit_amount_cents, code),
            )
        )
    totals += [
        ("Coupons", "-" + format_money(invoice.coupons_amount_cents, code)),
        (
            "Subtotal (excl. tax)",
            format_money(invoice.sub_total_excluding_taxes_amount_cents, code),
        ),
        ("Taxes", format_money(invoice.taxes_amount_cents, code)),
        (
            "Subtotal (incl. tax)",
            format_money(invoice.sub_total_including_taxes_amount_cents, code),
        ),
        ("Credit notes", "-" + format_money(invoice.credit_notes_amount_cents, code)),
        ("Prepaid credits", "-" + format_money(invoice.prepaid_credit_amount_cents, code)),
        ("Total", format_money(invoice.total_amount_cents, code)),
    ]
    return {
        "invoice": {
            "id": invoice.id,
            "number": invoice.number or f"{org.document_number_prefix}-DRAFT",
            "status": invoice.status,
            "type": invoice.invoice_type,
            "issuing_date": format_date(invoice.issuing_date),
            "payment_due_date": format_date(invoice.payment_due_date),
            "net_payment_term": invoice.net_payment_term,
            "currency": code,
            "payment_status": invoice.payment_status,
        },
        "seller": _party(org.name, "", org.profile or {}, (org.profile or {}).get("email")),
        "customer": {
            **_party(cust.name, cust.external_id, cust.profile or {}, cust.email),
            "external_id": cust.external_id,
        },
        "periods": periods,
        "fees": fees,
        "credits": credits,
        "taxes": taxes,
        "prepaid": prepaid,
        "totals": [{"label": label, "amount": amount} for label, amount in totals],
        "total_due": format_money(due, code),
    }


_CREDIT_LABELS = {
    "coupon": "Coupon",
    "credit_note": "Credit note",
    "progressive_billing": "Usage already billed",
    "invoice": "Usage already billed",
}


def _credit_line(credit: Mapping[str, Any], code: str) -> dict[str, str]:
    item = credit.get("item") or {}
    kind = str(item.get("type") or credit.get("type") or credit.get("kind") or "coupon")
    name = item.get("name") or credit.get("name") or item.get("code") or credit.get("code")
    label = _CREDIT_LABELS.get(kind, kind)
    return {
        "label": f"{label} {name}" if name else label,
        "kind": kind,
        "amount": "-" + format_money(int(credit.get("amount_cents") or 0), code),
    }


def _tax_line(tax: Mapping[str, Any], code: str) -> dict[str, str]:
    name = tax.get("tax_name") or tax.get("name") or tax.get("tax_code") or "Tax"
    rate = format_quantity(tax.get("tax_rate") or tax.get("rate") or 0)
    base = int(tax.get("fees_amount_cents") or tax.get("base_amount_cents") or 0)
    return {
        "label": f"{name} ({rate} % on {format_money(base, code)})",
        "amount": format_money(int(tax.get("amount_cents") or 0), code),
    }


# --- PDF -------------------------------------------------------------------------------------

_REPLACEMENTS = {
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
    "\u20ac": "EUR",
    "\u00a0": " ",
    "\u2713": "v",
    "\u2714": "v",
}


def latin1(text: object) -> str:
    """fpdf2's core fonts are latin-1 only: keep what fits, approximate or mark the rest."""
    out = []
    for char in str(text):
        char = _REPLACEMENTS.get(char, char)
        try:
            char.encode("latin-1")
        except UnicodeEncodeError:
            plain = (
                unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
            )
            char = plain or "?"
        out.append(char)
    return "".join(out)


_BOLD = FontFace(emphasis="BOLD")
_TIER = FontFace(emphasis="ITALICS", size_pt=8, color=(90, 90, 90))


def render_pdf(context: Mapping[str, Any], *, compress: bool = True) -> bytes:
    """Lay the invoice context out on A4 pages with fpdf2 core fonts."""
    t = latin1
    inv = context["invoice"]
    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    pdf.set_title(t(f"Invoice {inv['number']}"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()

    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, t(f"Invoice {inv['number']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for line in (
        f"Issuing date: {inv['issuing_date']}",
        f"Payment due date: {inv['payment_due_date']} (net {inv['net_payment_term']} days)",
        f"Status: {inv['status']} - payment {inv['payment_status']}",
    ):
        pdf.cell(0, 5, t(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    seller, buyer = context["seller"], context["customer"]
    with pdf.table(
        col_widths=(1, 1), first_row_as_headings=True, borders_layout="NONE", text_align="LEFT"
    ) as table:
        head = table.row()
        head.cell(t("From"))
        head.cell(t("Bill to"))
        row = table.row()
        row.cell(t("\n".join([seller["name"], *seller["lines"]])))
        row.cell(
            t("\n".join([buyer["name"], *buyer["lines"], f"Customer ID: {buyer['external_id']}"]))
        )
    pdf.ln(4)

    if context["periods"]:
        _heading(pdf, "Billing periods")
        with pdf.table(col_widths=(3, 2, 2, 2), text_align="LEFT") as table:
            _row(table, ("Subscription", "Period from", "Period to", "Charges"))
            for p in context["periods"]:
                _row(
                    table,
                    (
                        f"{p['subscription']} ({p['external_id']})",
                        p["from"],
                        p["to"],
                        f"{p['charges_from']} to {p['charges_to']}",
                    ),
                )
        pdf.ln(4)

    _heading(pdf, "Fees")
    with pdf.table(
        col_widths=(6, 2, 3, 3),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
    ) as table:
        _row(table, ("Item", "Units", "Unit price", "Amount"))
        for fee in context["fees"]:
            label = fee["name"] + (f"\n{fee['period']}" if fee["period"] else "")
            _row(table, (label, fee["units"], fee["unit_price"], fee["amount"]))
            for tier in fee["tiers"]:
                flat = f" + {tier['flat_amount']} flat" if _nonzero(tier["flat_amount"]) else ""
                _row(
                    table,
                    (
                        f"    {tier['label']}",
                        tier["units"],
                        tier["unit_price"] + flat,
                        tier["amount"],
                    ),
                    style=_TIER,
                )
    pdf.ln(4)

    extra = [
        *(("Credit: " + c["label"], c["amount"]) for c in context["credits"]),
        *((tx["label"], tx["amount"]) for tx in context["taxes"]),
        *(("Prepaid: " + w["label"], w["amount"]) for w in context["prepaid"]),
    ]
    if extra:
        _heading(pdf, "Coupons, taxes and credits")
        with pdf.table(
            col_widths=(8, 3), text_align=("LEFT", "RIGHT"), first_row_as_headings=False
        ) as table:
            for pair in extra:
                _row(table, pair)
        pdf.ln(4)

    _heading(pdf, "Totals")
    with pdf.table(
        col_widths=(8, 3), text_align=("LEFT", "RIGHT"), first_row_as_headings=False
    ) as table:
        for total in context["totals"]:
            _row(table, (total["label"], total["amount"]))
        _row(table, ("Total due", context["total_due"]), style=_BOLD)
    return bytes(pdf.output())


def _nonzero(formatted: str) -> bool:
    return any(ch.isdigit() and ch != "0" for ch in formatted)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)


def _row(table: Any, cells: Sequence[str], *, style: FontFace | None = None) -> None:
    row = table.row()
    for text in cells:
        row.cell(latin1(text), style=style)


# --- files ------------------------------------------------------------------------------------


def pdf_relative_path(invoice: Invoice) -> str:
    return f"invoices/{invoice.organization_id}/{invoice.id}.pdf"


def stored_pdf(invoice: Invoice, directory: str | os.PathLike[str] | None = None) -> Path | None:
    """The stored PDF of an invoice, if it exists on disk."""
    if not invoice.file_path:
        return None
    path = files_dir(directory) / invoice.file_path
    return path if path.is_file() else None


def generate_pdf(
    session: Session,
    *,
    invoice: Invoice,
    clock: Clock,
    directory: str | os.PathLike[str] | None = None,
) -> Path:
    """Render the invoice's PDF, store it under the files directory, record its path."""
    data = render_pdf(invoice_context(session, invoice))
    relative = pdf_relative_path(invoice)
    target = files_dir(directory) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    invoice_service.record_file(session, invoice=invoice, file_path=relative, clock=clock)
    return target
