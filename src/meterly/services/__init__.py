"""The use cases, in capability packages (docs/architecture.md).

Importing any of them records activity: `activity` hooks every unit of work of the
process (services/activity/recorder.py), so no use case, job or command can forget to.
"""

from meterly.services import activity as activity
