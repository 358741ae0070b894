"""Metering: events in (validation, the batched event writer) and usage out (aggregated
and priced per charge for a window, cached for current usage)."""

from meterly.services.metering import clock_times, event_writer, ingest, usage, usage_cache
from meterly.services.metering.event_writer import EventsNotStored, EventWriter
from meterly.services.metering.usage import (
    BucketUsage,
    ChargeUsage,
    SubscriptionUsage,
    UsageGrouping,
    chain_start,
    charge_requests,
    charges_window,
    compute_usage,
    has_grouped_buckets,
    presentation_keys,
    price_bucket,
    project_bucket,
)

__all__ = [
    "BucketUsage",
    "ChargeUsage",
    "EventWriter",
    "EventsNotStored",
    "SubscriptionUsage",
    "UsageGrouping",
    "chain_start",
    "charge_requests",
    "charges_window",
    "clock_times",
    "compute_usage",
    "event_writer",
    "has_grouped_buckets",
    "ingest",
    "presentation_keys",
    "price_bucket",
    "project_bucket",
    "usage",
    "usage_cache",
]
