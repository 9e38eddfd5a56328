"""Per-request routing: character -> (base model, adapter version), with sticky percentage rollout.

The base of a routed group is its adapter row's (what it was trained on): during a rollout to another
base the stable users stay on the route's base and the candidate users get the candidate's.

Pure functions over registry reads. The route is read on every call, so a rollback or a new
rollout percentage takes effect on the next request with no restart and no cache to invalidate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

# Never served, whatever the route says. needs_retrain stays servable: it is live and flagged,
# and pulling it is a routing decision (rollback), not a side effect of a status change.
NEVER_SERVED = frozenset({"rejected", "retired"})


class RegistryReader(Protocol):
    def get_route(self, character_id: str) -> dict | None: ...
    def get_adapter(self, character_id: str, version: str) -> dict | None: ...


@dataclass(frozen=True)
class Resolution:
    character_id: str
    base_model: str | None
    adapter_version: str | None
    group: str  # "stable" | "candidate" | "base"
    route_owner: str | None  # the character or category whose route matched (the adapter row's owner)
    base_id: str | None = None  # the adapter row's base identity (models.identity); None: unknown / base group


def rollout_bucket(user_key: str, character_id: str) -> float:
    """A stable number in [0, 100) for (user, character), independent of process and platform.

    Salting with the character makes rollouts of different characters independent: the same users
    are not always the first to get every candidate.
    """
    digest = hashlib.sha256(f"{character_id}\x1f{user_key}".encode()).digest()
    # 53 bits: exact in a float, so the result stays below 100 (64 bits can round up to 100.0).
    return (int.from_bytes(digest[:8], "big") >> 11) / 2**53 * 100.0


def _servable(registry: RegistryReader, owner: str, version: str | None) -> dict | None:
    """The adapter row if `version` may be served, else None."""
    if version is None:
        return None
    row = registry.get_adapter(owner, version)
    return row if row is not None and row["status"] not in NEVER_SERVED else None


def _from_route(registry: RegistryReader, route: dict, owner: str, character_id: str,
                user_key: str) -> Resolution | None:
    """Candidate if the user's bucket is under the rollout, else stable; None if neither is servable."""
    candidate, stable = route["candidate_version"], route["stable_version"]
    # Bucket by the requested character, not the route owner: stickiness is per character.
    in_candidate = rollout_bucket(user_key, character_id) < (route["rollout_percent"] or 0.0)
    if in_candidate and (row := _servable(registry, owner, candidate)):
        return Resolution(character_id, row["base_model"], candidate, "candidate", owner, row.get("base_id"))
    if row := _servable(registry, owner, stable):
        return Resolution(character_id, row["base_model"], stable, "stable", owner, row.get("base_id"))
    return None


def resolve(registry: RegistryReader, character_id: str, user_key: str, *, category: str | None = None,
            default_base_model: str | None = None) -> Resolution:
    """Which base model and adapter serve this (character, user) now.

    Order: the character's route, else its category's route (a route owned by the category name),
    else the base model alone (group "base"). A route whose adapters are all unservable (rejected
    or retired) falls through to the next level rather than failing the request.
    """
    owners = [character_id] + ([category] if category and category != character_id else [])
    for owner in owners:
        route = registry.get_route(owner)
        if route is not None:
            hit = _from_route(registry, route, owner, character_id, user_key)
            if hit is not None:
                return hit
    return Resolution(character_id, default_base_model, None, "base", None)
