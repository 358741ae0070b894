"""Activity: the audit logs. Who changed what (activity logs) and every API write (API logs).

The lowest capability above `common`, so every other one records through it without
knowing: `recorder.install()` hooks the unit of work itself, and the adapters only name the
actor (`act_as`). Importing this package installs the hooks.
"""

from meterly.services.activity import recorder
from meterly.services.activity.actors import (
    SYSTEM,
    Actor,
    act_as,
    actor_of,
    api_key_actor,
    dashboard_actor,
)
from meterly.services.activity.logs import (
    ActivityFilters,
    ApiLogFilters,
    ApiRequest,
    find_activity,
    find_api_log,
    list_activity,
    list_api_logs,
    logs_max_body,
    parse_date,
    prune,
    record_api_request,
    redact_body,
    retention_days,
)
from meterly.services.activity.recorder import RESOURCES, install, use_clock

# Every process that uses services records activity: the hooks are on SQLAlchemy's Session
# class, so a unit of work opened anywhere after this import is covered.
recorder.install()

__all__ = [
    "RESOURCES",
    "SYSTEM",
    "ActivityFilters",
    "Actor",
    "ApiLogFilters",
    "ApiRequest",
    "act_as",
    "actor_of",
    "api_key_actor",
    "dashboard_actor",
    "find_activity",
    "find_api_log",
    "install",
    "list_activity",
    "list_api_logs",
    "logs_max_body",
    "parse_date",
    "prune",
    "record_api_request",
    "redact_body",
    "retention_days",
    "use_clock",
]
