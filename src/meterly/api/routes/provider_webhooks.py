"""POST /webhooks/{provider}/{organization_id}: the provider's own webhooks (not under /api/v1).

No API key: the provider signs each delivery with the connection's endpoint secret. A bad
or missing signature is a 400 and changes nothing; a repeated event answers 200 again (so
the provider stops retrying) and changes nothing either.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from meterly.api.errors import BadRequest
from meterly.api.http import clock, ok, settings, unit_of_work
from meterly.services.payments import SignatureInvalid, connections, inbound

router = APIRouter(include_in_schema=False)

_SIGNATURE_HEADERS = {"stripe": "stripe-signature"}


@router.post("/webhooks/{provider}/{organization_id}")
async def receive(provider: str, organization_id: str, request: Request) -> Response:
    if provider not in connections.ADAPTERS:
        raise BadRequest("unknown payment provider")
    body = await request.body()
    signature = request.headers.get(_SIGNATURE_HEADERS.get(provider, ""))
    # The unit of work blocks: it runs on the thread pool, as sync routes do.
    return await run_in_threadpool(_apply, request, provider, organization_id, body, signature)


def _apply(
    request: Request, provider: str, organization_id: str, body: bytes, signature: str | None
) -> Response:
    try:
        with unit_of_work(request) as session:
            outcome = inbound.receive(
                session,
                organization_id=organization_id,
                provider=provider,
                body=body,
                signature=signature,
                keys=settings(request).verification_keys,
                clock=clock(request),
            )
    except SignatureInvalid:
        raise BadRequest("the webhook signature does not verify") from None
    return ok({"received": outcome})
