"""Notifications: the webhook outbox every capability writes to in its own unit of work,
and the endpoints and deliveries the worker (`meterly.jobs`) sends from it."""

from meterly.services.notifications import url_guard, webhooks
from meterly.services.notifications.webhooks import enqueue

__all__ = ["enqueue", "url_guard", "webhooks"]
