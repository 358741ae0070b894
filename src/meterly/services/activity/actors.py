"""Who makes a change: an API key, a person signed in to the dashboard, or the system.

The adapter that opens a unit of work names the actor on the session
(`session.info[ACTOR]`, see `act_as`); a session nobody named is the system's (the
billing clock, the worker, a command).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

ACTOR = "meterly.actor"


@dataclass(frozen=True, slots=True)
class Actor:
    # api_key | user | system
    type: str
    # The API key's or the user's id; an API key may be known by its hash only until a
    # change needs its id (most requests change nothing, so most never look it up).
    id: str | None = None
    # Lago's activity_source: api (the REST API), front (the dashboard), system.
    source: str = "system"
    user_email: str | None = None
    api_key_hash: str | None = None


SYSTEM = Actor(type="system", source="system")


def api_key_actor(*, key_hash: str) -> Actor:
    return Actor(type="api_key", source="api", api_key_hash=key_hash)


def dashboard_actor(*, user_id: str | None, email: str | None, api_key_id: str | None) -> Actor:
    """A dashboard session: a person with an account, or the first admin's API key."""
    if user_id is not None:
        return Actor(type="user", id=user_id, source="front", user_email=email)
    return Actor(type="api_key", id=api_key_id, source="front")


def act_as(session: Session, actor: Actor) -> None:
    session.info[ACTOR] = actor


def actor_of(session: Session) -> Actor:
    found = session.info.get(ACTOR)
    return found if isinstance(found, Actor) else SYSTEM
