"""Rate limits on the API: token buckets per API key, per client address, and on failures.

Three buckets decide whether a request under /api is answered (api/app.py asks before
anything else, so the ingestion lane and FastAPI's routes are limited alike):

- per client address (`METERLY_RATE_LIMIT_PER_ADDRESS` requests a minute);
- per API key, the `Authorization` header's token (`METERLY_RATE_LIMIT_PER_KEY`);
- failed authentication per address (`METERLY_AUTH_FAILURES_PER_MINUTE`): each 401 takes
  a token, and while an address has none left *every* request from it is refused, so
  guessing keys costs a minute per few dozen guesses.

A bucket holds a minute's allowance and refills continuously (rate / 60 per second), so
a client may burst up to its minute's worth and then keeps the steady rate. A refused
request is answered 429 in Lago's error format with `Retry-After` (whole seconds until a
token is back) and touches nothing. A limit of 0 turns that bucket off.

The defaults are generous (20,000 requests a second per key or address, far above what
one server process answers) so that only abuse meets them; the failure limit (30 a
minute) is the one that bites. Buckets live in the process: with `--workers N` each
worker counts for itself, so the effective limits are N times higher.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

PER_KEY_VARIABLE = "METERLY_RATE_LIMIT_PER_KEY"
PER_ADDRESS_VARIABLE = "METERLY_RATE_LIMIT_PER_ADDRESS"
AUTH_FAILURES_VARIABLE = "METERLY_AUTH_FAILURES_PER_MINUTE"
DEFAULT_PER_KEY = 1_200_000
DEFAULT_PER_ADDRESS = 1_200_000
DEFAULT_AUTH_FAILURES = 30

# Past this many buckets of one kind, full ones (idle clients) are forgotten: memory stays
# bounded however many addresses or made-up keys a client sends.
MAX_BUCKETS = 50_000

TOO_MANY = {"status": 429, "error": "Too Many Requests", "code": "too_many_requests"}


@dataclass
class Bucket:
    tokens: float
    updated: float


@dataclass
class Buckets:
    """One kind of bucket (per key, per address, failures), `per_minute` tokens each."""

    per_minute: int
    buckets: dict[str, Bucket] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def _refilled(self, name: str, now: float) -> Bucket:
        bucket = self.buckets.get(name)
        if bucket is None:
            if len(self.buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self.buckets[name] = Bucket(float(self.per_minute), now)
            return bucket
        elapsed = max(now - bucket.updated, 0.0)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + elapsed * self.per_minute / 60)
        bucket.updated = now
        return bucket

    def wait(self, name: str, now: float) -> float:
        """Seconds until `name` has a token (0 when it has one now); takes nothing."""
        bucket = self._refilled(name, now)
        if bucket.tokens >= 1:
            return 0.0
        return (1 - bucket.tokens) * 60 / self.per_minute

    def take(self, name: str, now: float) -> float:
        """Take a token: 0 when taken, else the seconds until one is back (nothing taken)."""
        bucket = self._refilled(name, now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) * 60 / self.per_minute

    def spend(self, name: str, now: float) -> None:
        """Take a token even from an empty bucket (a failure always counts)."""
        bucket = self._refilled(name, now)
        bucket.tokens = max(bucket.tokens - 1, 0.0)

    def _forget_full(self, now: float) -> None:
        for name in list(self.buckets):
            if self._refilled(name, now).tokens >= self.per_minute:
                del self.buckets[name]
        if len(self.buckets) >= MAX_BUCKETS:  # all busy: forget the oldest half
            oldest = sorted(self.buckets, key=lambda n: self.buckets[n].updated)
            for name in oldest[: MAX_BUCKETS // 2]:
                del self.buckets[name]


class Throttle:
    """The process's rate limits (one per application, in `app.state.throttle`)."""

    def __init__(
        self,
        *,
        per_key: int = DEFAULT_PER_KEY,
        per_address: int = DEFAULT_PER_ADDRESS,
        auth_failures: int = DEFAULT_AUTH_FAILURES,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys = Buckets(per_key)
        self.addresses = Buckets(per_address)
        self.failures = Buckets(auth_failures)
        self.now = now
        # Requests are answered on the event loop and in threads: one lock, held briefly.
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> Throttle:
        return cls(
            per_key=_limit(PER_KEY_VARIABLE, DEFAULT_PER_KEY),
            per_address=_limit(PER_ADDRESS_VARIABLE, DEFAULT_PER_ADDRESS),
            auth_failures=_limit(AUTH_FAILURES_VARIABLE, DEFAULT_AUTH_FAILURES),
        )

    def admit(self, address: str, key: str | None) -> float:
        """0 when the request may go on (its tokens taken), else seconds to wait."""
        with self._lock:
            now = self.now()
            if self.failures.enabled:
                wait = self.failures.wait(address, now)
                if wait:
                    return wait
            if self.addresses.enabled:
                wait = self.addresses.take(address, now)
                if wait:
                    return wait
            if key is not None and self.keys.enabled:
                return self.keys.take(key, now)
            return 0.0

    def failed_authentication(self, address: str) -> None:
        if self.failures.enabled:
            with self._lock:
                self.failures.spend(address, self.now())


def applies(scope: Scope) -> bool:
    return bool(scope["type"] == "http" and scope["path"].startswith("/api/"))


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def bearer_token(scope: Scope) -> str | None:
    """The token of `Authorization: Bearer <token>`, else None (checked again by auth)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            parts: list[str] = bytes(value).decode("latin-1").split()
            if len(parts) == 2 and parts[0].lower() == "bearer":
                return parts[1]
            return None
    return None


async def refuse(send: Send, wait: float) -> None:
    """Lago's error body with status 429 and the whole seconds to wait."""
    body = orjson.dumps(TOO_MANY)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(math.ceil(wait), 1)).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def counting_failures(throttle: Throttle, address: str, send: Send) -> Send:
    """`send`, noting a failed authentication when the answer is 401."""

    async def send_and_count(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 401:
            throttle.failed_authentication(address)
        await send(message)

    return send_and_count


def _limit(variable: str, default: int) -> int:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{variable} must be a whole number of requests a minute") from None
    if value < 0:
        raise ValueError(f"{variable} must be 0 (off) or more, not {value}")
    return value
