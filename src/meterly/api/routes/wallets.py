"""/api/v1/wallets, /customers/{external_id}/wallets and /wallet_transactions"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import (
    clock,
    json_body,
    listing,
    ok,
    organization_id,
    page_params,
    parse,
    query_hash,
    root,
    settings,
    unit_of_work,
)
from meterly.api.openapi import METADATA, path_parameters, wire_body
from meterly.api.schemas.wallets import (
    WalletIn,
    WalletTransactionIn,
    link,
    transaction_input,
    wallet,
    wallet_input,
    wallet_transaction,
)
from meterly.domain.errors import NotAllowed
from meterly.domain.wallets import OngoingBalance
from meterly.services import payments
from meterly.services.credits import wallets as service
from meterly.store.tables import Invoice
from meterly.store.tables_wallets import Wallet

router = APIRouter(tags=["wallets"])


def _input(body: Any) -> service.WalletInput:
    raw = root(body, "wallet")
    return wallet_input(parse(WalletIn, raw), raw)


def _answer(request: Request, session: Session, row: Wallet) -> Response:
    ongoing = service.ongoing_of(session, wallet=row, at=clock(request).now())
    return ok({"wallet": wallet(session, row, ongoing=ongoing)})


def _create(request: Request, org: str, body: Any, external_customer_id: str | None) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row, _ = service.create(
            session,
            organization_id=org,
            data=data,
            clock=clock(request),
            external_customer_id=external_customer_id,
        )
        return _answer(request, session, row)


def _ongoing_by_wallet(
    request: Request, session: Session, rows: list[Wallet]
) -> dict[str, OngoingBalance]:
    """Live ongoing balances, computed once per customer and currency."""
    now = clock(request).now()
    out: dict[str, OngoingBalance] = {}
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row.customer_id, row.currency)
        if row.status != service.ACTIVE or key in seen:
            continue
        seen.add(key)
        customer = service.customer_of(session, row)
        out |= service.ongoing_balances(
            session, customer=customer, currency_code=row.currency, at=now
        )
    return out


def _list(request: Request, org: str, external_customer_id: str | None) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = service.list_page(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            external_customer_id=external_customer_id,
            currency_code=request.query_params.get("currency") or None,
        )
        ongoing = _ongoing_by_wallet(request, session, rows)
        items = [wallet(session, r, ongoing=ongoing.get(r.id)) for r in rows]
    return listing("wallets", items, page=page, per_page=per_page, total=total)


# --- /wallets --------------------------------------------------------------------------


@router.post("/wallets", openapi_extra=wire_body("wallet", WalletIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    return _create(request, org, body, None)


@router.get("/wallets")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    return _list(request, org, request.query_params.get("external_customer_id") or None)


def _by_id(session: Session, org: str, wallet_id: str) -> Wallet:
    return service.find(session, organization_id=org, wallet_id=wallet_id)


@router.get("/wallets/{wallet_id}")
def show(wallet_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        return _answer(request, session, _by_id(session, org, wallet_id))


@router.put("/wallets/{wallet_id}", openapi_extra=wire_body("wallet", WalletIn))
def update(
    wallet_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = _by_id(session, org, wallet_id)
        service.update(session, wallet=row, data=data, clock=clock(request))
        return _answer(request, session, row)


@router.delete("/wallets/{wallet_id}")
def destroy(wallet_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = _by_id(session, org, wallet_id)
        service.terminate(session, wallet=row, clock=clock(request))
        return _answer(request, session, row)


# --- metadata ----------------------------------------------------------------------------


def _metadata_body(body: Any) -> dict[str, Any]:
    from meterly.api.errors import BadRequest

    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        raise BadRequest("param is missing or the value is empty or invalid: metadata")
    value: dict[str, Any] = body["metadata"]
    return value


def _metadata_routes(prefix: str, finder: Any) -> None:
    @router.post(f"{prefix}/metadata", openapi_extra={**METADATA, **path_parameters(prefix)})
    def replace_metadata(
        request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
    ) -> Response:
        data = _metadata_body(body)
        with unit_of_work(request) as session:
            row = finder(session, org, request)
            value = service.replace_metadata(
                session, wallet=row, metadata=data, clock=clock(request)
            )
            return ok({"metadata": value})

    @router.patch(f"{prefix}/metadata", openapi_extra={**METADATA, **path_parameters(prefix)})
    def merge_metadata(
        request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
    ) -> Response:
        data = _metadata_body(body)
        with unit_of_work(request) as session:
            row = finder(session, org, request)
            value = service.merge_metadata(session, wallet=row, metadata=data, clock=clock(request))
            return ok({"metadata": value})

    @router.delete(f"{prefix}/metadata", openapi_extra=path_parameters(prefix))
    def delete_all_metadata(request: Request, org: str = Depends(organization_id)) -> Response:
        with unit_of_work(request) as session:
            row = finder(session, org, request)
            value = service.delete_metadata(session, wallet=row, key=None, clock=clock(request))
            return ok({"metadata": value})

    @router.delete(f"{prefix}/metadata/{{key}}", openapi_extra=path_parameters(prefix))
    def delete_metadata_key(
        key: str, request: Request, org: str = Depends(organization_id)
    ) -> Response:
        with unit_of_work(request) as session:
            row = finder(session, org, request)
            value = service.delete_metadata(session, wallet=row, key=key, clock=clock(request))
            return ok({"metadata": value})


def _wallet_from_path(session: Session, org: str, request: Request) -> Wallet:
    return _by_id(session, org, request.path_params["wallet_id"])


def _wallet_from_code(session: Session, org: str, request: Request) -> Wallet:
    return service.find_by_code(
        session,
        organization_id=org,
        external_customer_id=request.path_params["external_customer_id"],
        code=request.path_params["code"],
    )


_metadata_routes("/wallets/{wallet_id}", _wallet_from_path)


# --- wallet transactions -------------------------------------------------------------------


@router.get("/wallets/{wallet_id}/wallet_transactions")
def transactions(wallet_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    params = request.query_params
    filters = service.TransactionFilters(
        status=params.get("status") or None,
        transaction_type=params.get("transaction_type") or None,
        transaction_status=params.get("transaction_status") or None,
        metadata=query_hash(request, "metadata"),
    )
    with unit_of_work(request) as session:
        row = _by_id(session, org, wallet_id)
        rows, total = service.list_transactions(
            session, wallet=row, page=page, per_page=per_page, filters=filters
        )
        items = [wallet_transaction(r) for r in rows]
    return listing("wallet_transactions", items, page=page, per_page=per_page, total=total)


@router.post(
    "/wallet_transactions", openapi_extra=wire_body("wallet_transaction", WalletTransactionIn)
)
def create_transactions(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = transaction_input(parse(WalletTransactionIn, root(body, "wallet_transaction")))
    with unit_of_work(request) as session:
        rows = service.create_transactions(
            session, organization_id=org, data=data, clock=clock(request)
        )
        return ok({"wallet_transactions": [wallet_transaction(r) for r in rows]})


@router.get("/wallet_transactions/{transaction_id}")
def show_transaction(
    transaction_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = service.find_transaction(session, organization_id=org, transaction_id=transaction_id)
        return ok({"wallet_transaction": wallet_transaction(row)})


@router.get("/wallet_transactions/{transaction_id}/consumptions")
def consumptions(
    transaction_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        row = service.find_transaction(session, organization_id=org, transaction_id=transaction_id)
        links, total = service.consumptions(session, transaction=row, page=page, per_page=per_page)
        items = [link(session, c, other) for c, other in links]
    return listing(
        "wallet_transaction_consumptions", items, page=page, per_page=per_page, total=total
    )


@router.get("/wallet_transactions/{transaction_id}/fundings")
def fundings(
    transaction_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        row = service.find_transaction(session, organization_id=org, transaction_id=transaction_id)
        links, total = service.fundings(session, transaction=row, page=page, per_page=per_page)
        items = [link(session, c, other) for c, other in links]
    return listing("wallet_transaction_fundings", items, page=page, per_page=per_page, total=total)


@router.post("/wallet_transactions/{transaction_id}/payment_url")
def payment_url(
    transaction_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    """The hosted payment page for the top-up's invoice: paid, it credits the wallet."""
    config = settings(request)
    with unit_of_work(request) as session:
        row = service.find_transaction(session, organization_id=org, transaction_id=transaction_id)
        invoice = session.get(Invoice, row.invoice_id) if row.invoice_id else None
        if invoice is None:  # granted credits, or a top-up not invoiced: nothing to pay
            raise NotAllowed("invalid_status")
        found = payments.checkout.invoice_link(
            session,
            invoice=invoice,
            secret_key=config.signing_key,
            public_url=config.public_url,
            clock=clock(request),
        )
        return ok(
            {
                "wallet_transaction_payment_details": {
                    "lago_customer_id": found.customer_id,
                    "lago_wallet_transaction_id": row.id,
                    "external_customer_id": found.external_customer_id,
                    "payment_provider": found.provider,
                    "payment_url": found.url,
                }
            }
        )


# --- /customers/{external_customer_id}/wallets --------------------------------------------


@router.post(
    "/customers/{external_customer_id}/wallets", openapi_extra=wire_body("wallet", WalletIn)
)
def customer_create(
    external_customer_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    return _create(request, org, body, external_customer_id)


@router.get("/customers/{external_customer_id}/wallets")
def customer_index(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    return _list(request, org, external_customer_id)


@router.get("/customers/{external_customer_id}/wallets/{code}")
def customer_show(
    external_customer_id: str, code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        return _answer(request, session, _wallet_from_code(session, org, request))


@router.put(
    "/customers/{external_customer_id}/wallets/{code}", openapi_extra=wire_body("wallet", WalletIn)
)
def customer_update(
    external_customer_id: str,
    code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = _wallet_from_code(session, org, request)
        service.update(session, wallet=row, data=data, clock=clock(request))
        return _answer(request, session, row)


@router.delete("/customers/{external_customer_id}/wallets/{code}")
def customer_destroy(
    external_customer_id: str, code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = _wallet_from_code(session, org, request)
        service.terminate(session, wallet=row, clock=clock(request))
        return _answer(request, session, row)


_metadata_routes("/customers/{external_customer_id}/wallets/{code}", _wallet_from_code)
