"""The worker's payment loops: charge finalized invoices through their provider, and dun."""

from __future__ import annotations

import logging
import threading

from meterly.config import MissingSecretKey, Settings, with_secret_key
from meterly.services.common import Clock
from meterly.services.payments import collection, dunning
from meterly.store.uow import Database

log = logging.getLogger(__name__)

# Seconds between two collection passes (a new invoice is charged within this delay).
PAYMENTS_INTERVAL = 10.0


def provider_secret_keys(database: Database) -> tuple[str, ...]:
    """The installation secrets that decrypt provider keys, resolved as the server does."""
    served = database.engine.url.render_as_string(hide_password=False)
    return with_secret_key(Settings.from_env(), database_url=served).verification_keys


def payments_loop(
    database: Database, clock: Clock, stop: threading.Event, *, interval: float = PAYMENTS_INTERVAL
) -> None:
    try:
        keys = provider_secret_keys(database)
    except MissingSecretKey:
        log.error("payment collection is off: METERLY_SECRET_KEY is not set")
        return
    while not stop.is_set():
        try:
            collection.run_once(database, keys=keys, clock=clock)
        except Exception:
            # One failed pass (a database restarting) must not end collection for good.
            log.exception("payment collection pass failed")
        stop.wait(interval)


# Seconds between two dunning passes (Lago's clock runs dunning hourly; a few minutes
# keeps a campaign's attempt within minutes of the day it is due).
DUNNING_INTERVAL = 300.0


def dunning_loop(
    database: Database, clock: Clock, stop: threading.Event, *, interval: float = DUNNING_INTERVAL
) -> None:
    """Dunning campaigns: payment requests and reminders for overdue balances."""
    while not stop.is_set():
        try:
            dunning.run_once(database, clock=clock)
        except Exception:
            log.exception("dunning pass failed")
        stop.wait(interval)
