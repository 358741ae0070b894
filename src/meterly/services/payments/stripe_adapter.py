"""The Stripe adapter of the payment-provider port, on the official `stripe` library.

One `StripeClient` per connection (its own key and API root), never the module-level
global key: two organizations' keys must never mix in one process.
"""

from __future__ import annotations

import json
from typing import Any

import stripe
from stripe._base_address import BaseAddresses

from meterly.services.payments.port import (
    FAILED,
    PENDING,
    PROCESSING,
    SUCCEEDED,
    ChargeResult,
    PaymentMethod,
    ProviderError,
    ProviderWebhook,
    SignatureInvalid,
)

# Stripe's PaymentIntent statuses, in Lago's normalized words.
_OUTCOMES = {
    "succeeded": SUCCEEDED,
    "processing": PROCESSING,
    "requires_action": "requires_action",
    "requires_capture": PROCESSING,
    "requires_confirmation": PENDING,
    "canceled": FAILED,
}
# A signed event older than this is refused (a replayed capture of an old delivery).
SIGNATURE_TOLERANCE_SECONDS = 300
_TIMEOUT_SECONDS = 20


class StripeProvider:
    name = "stripe"

    def __init__(
        self, *, secret_key: str, webhook_secret: str | None, api_base: str | None
    ) -> None:
        base: BaseAddresses = {"api": api_base} if api_base else {}
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=base,
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=_TIMEOUT_SECONDS),
        )
        self._webhook_secret = webhook_secret

    # --- customers -----------------------------------------------------------------

    def create_customer(
        self, *, name: str | None, email: str | None, metadata: dict[str, str]
    ) -> str:
        params: dict[str, Any] = {"metadata": metadata}
        if name:
            params["name"] = name
        if email:
            params["email"] = email
        try:
            created = self._client.v1.customers.create(params=params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc
        return str(created["id"])

    def _default_method(self, provider_customer_id: str) -> str | None:
        customer = self._client.v1.customers.retrieve(provider_customer_id).to_dict()
        settings = customer.get("invoice_settings") or {}
        if settings.get("default_payment_method"):
            return str(settings["default_payment_method"])
        methods = self._client.v1.payment_methods.list(
            params={"customer": provider_customer_id, "type": "card"}
        ).to_dict()
        data = methods.get("data") or []
        return str(data[0]["id"]) if data else None

    # --- payments ------------------------------------------------------------------

    def charge_off_session(
        self,
        *,
        provider_customer_id: str,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        try:
            method = self._default_method(provider_customer_id)
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc
        if method is None:
            return ChargeResult(
                provider_payment_id=None,
                provider_status="requires_payment_method",
                outcome=FAILED,
                amount_cents=amount_cents,
                currency=currency,
                error_code="no_payment_method",
                error_message="the customer has no saved payment method",
            )
        params: dict[str, Any] = {
            "amount": amount_cents,
            "currency": currency.lower(),
            "customer": provider_customer_id,
            "payment_method": method,
            "confirm": True,
            "off_session": True,
            "metadata": metadata,
        }
        try:
            intent = self._client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            return self._declined(exc, amount_cents=amount_cents, currency=currency)
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc
        return intent_result(intent)

    def _declined(self, exc: stripe.CardError, *, amount_cents: int, currency: str) -> ChargeResult:
        body = exc.json_body if isinstance(exc.json_body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else None
        intent_id: str | None = None
        if error is not None and error.get("payment_intent"):
            intent_id = str(error["payment_intent"]["id"])
        elif error is not None and error.get("charge"):
            # Some servers name only the failed charge: its PaymentIntent is on it.
            try:
                charge = self._client.v1.charges.retrieve(str(error["charge"])).to_dict()
                intent_id = charge.get("payment_intent")
            except stripe.StripeError:
                intent_id = None
        return ChargeResult(
            provider_payment_id=intent_id,
            provider_status="requires_payment_method",
            outcome=FAILED,
            amount_cents=amount_cents,
            currency=currency,
            error_code=str(exc.code or "card_declined"),
            error_message=str(exc.user_message or exc),
        )

    def save_method(self, *, provider_customer_id: str, provider_method_id: str) -> None:
        try:
            method = self._client.v1.payment_methods.retrieve(provider_method_id).to_dict()
            if method.get("customer") != provider_customer_id:
                self._client.v1.payment_methods.attach(
                    provider_method_id, params={"customer": provider_customer_id}
                )
            self._client.v1.customers.update(
                provider_customer_id,
                params={"invoice_settings": {"default_payment_method": provider_method_id}},
            )
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc

    def charge_with_method(
        self,
        *,
        provider_customer_id: str,
        provider_method_id: str,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        params: dict[str, Any] = {
            "amount": amount_cents,
            "currency": currency.lower(),
            "customer": provider_customer_id,
            "payment_method": provider_method_id,
            "confirm": True,
            "metadata": metadata,
        }
        try:
            intent = self._client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            return self._declined(exc, amount_cents=amount_cents, currency=currency)
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc
        return intent_result(intent)

    def start_setup(self, *, provider_customer_id: str, idempotency_key: str) -> str:
        try:
            intent = self._client.v1.setup_intents.create(
                params={"customer": provider_customer_id, "usage": "off_session"},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc
        return str(intent["client_secret"])

    def retrieve_payment(self, provider_payment_id: str) -> ChargeResult:
        try:
            intent = self._client.v1.payment_intents.retrieve(provider_payment_id)
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc
        return intent_result(intent)

    def payment_methods(self, provider_customer_id: str) -> list[PaymentMethod]:
        try:
            default = self._default_method(provider_customer_id)
            listed = self._client.v1.payment_methods.list(
                params={"customer": provider_customer_id, "type": "card"}
            ).to_dict()
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc
        methods = []
        for item in listed.get("data") or []:
            card = item.get("card") or {}
            methods.append(
                PaymentMethod(
                    provider_method_id=str(item["id"]),
                    kind=str(item.get("type") or "card"),
                    brand=card.get("brand"),
                    last4=card.get("last4"),
                    expiration_month=_int(card.get("exp_month")),
                    expiration_year=_int(card.get("exp_year")),
                    is_default=item["id"] == default,
                )
            )
        return methods

    def _owned(self, provider_customer_id: str, provider_method_id: str) -> None:
        method = self._client.v1.payment_methods.retrieve(provider_method_id).to_dict()
        if method.get("customer") != provider_customer_id:
            # Never act on another customer's card, whatever id the caller sent.
            raise ProviderError("the payment method is not the customer's")

    def set_default_method(self, *, provider_customer_id: str, provider_method_id: str) -> None:
        try:
            self._owned(provider_customer_id, provider_method_id)
            self._client.v1.customers.update(
                provider_customer_id,
                params={"invoice_settings": {"default_payment_method": provider_method_id}},
            )
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc

    def remove_method(self, *, provider_customer_id: str, provider_method_id: str) -> None:
        try:
            self._owned(provider_customer_id, provider_method_id)
            customer = self._client.v1.customers.retrieve(provider_customer_id).to_dict()
            settings = customer.get("invoice_settings") or {}
            if settings.get("default_payment_method") == provider_method_id:
                # Stripe forgets a detached default itself; a compatible server may not, and
                # an off-session charge must never reach for a card that is gone.
                self._client.v1.customers.update(
                    provider_customer_id,
                    params={"invoice_settings": {"default_payment_method": ""}},
                )
            self._client.v1.payment_methods.detach(provider_method_id)
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc

    # --- inbound webhooks ----------------------------------------------------------

    def parse_webhook(self, *, body: bytes, signature: str | None) -> ProviderWebhook:
        if not signature or not self._webhook_secret:
            raise SignatureInvalid("missing signature")
        try:
            stripe.WebhookSignature.verify_header(
                body.decode("utf-8"),
                signature,
                self._webhook_secret,
                SIGNATURE_TOLERANCE_SECONDS,
            )
            event = json.loads(body)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
            raise SignatureInvalid("signature does not verify") from None
        if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
            raise SignatureInvalid("not a provider event")
        obj = (event.get("data") or {}).get("object") or {}
        charge = None
        metadata: dict[str, str] = {}
        if isinstance(obj, dict) and obj.get("object") == "payment_intent":
            charge = intent_result(obj)
            if event["type"] == "payment_intent.payment_failed":
                charge = _as_failed(charge, obj)
            metadata = {str(k): str(v) for k, v in (obj.get("metadata") or {}).items()}
        return ProviderWebhook(
            event_id=str(event["id"]),
            event_type=str(event["type"]),
            charge=charge,
            metadata=metadata,
        )


def intent_result(intent: Any) -> ChargeResult:
    """A PaymentIntent (library object or plain JSON) in the port's words."""
    if isinstance(intent, stripe.StripeObject):
        intent = intent.to_dict()
    status = str(intent.get("status"))
    error = intent.get("last_payment_error") or {}
    outcome = _OUTCOMES.get(status, PENDING)
    if status == "requires_payment_method":
        # Stripe puts a failed intent back to "requires_payment_method" with the error.
        outcome = FAILED if error else PENDING
    next_action = intent.get("next_action") or {}
    return ChargeResult(
        provider_payment_id=str(intent["id"]),
        provider_status=status,
        outcome=outcome,
        amount_cents=int(intent.get("amount") or 0),
        currency=str(intent.get("currency") or "").upper(),
        next_action=dict(next_action),
        error_code=error.get("code") if error else None,
        error_message=error.get("message") if error else None,
        client_secret=intent.get("client_secret"),
    )


def _as_failed(result: ChargeResult, obj: dict[str, Any]) -> ChargeResult:
    error = obj.get("last_payment_error") or {}
    return ChargeResult(
        provider_payment_id=result.provider_payment_id,
        provider_status=result.provider_status,
        outcome=FAILED,
        amount_cents=result.amount_cents,
        currency=result.currency,
        error_code=error.get("code") or "payment_failed",
        error_message=error.get("message"),
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
