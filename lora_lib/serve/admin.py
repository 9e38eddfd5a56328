"""The admin routes (`Authorization: Bearer $LORA_API_KEY`, refused when the variable is unset):
GET /admin/routes, POST /admin/routes/{character}/{set|rollout|promote|rollback},
POST /admin/adapters/{owner}/{version}/status."""

from __future__ import annotations

from fastapi import Request

from .auth import check_key
from .schema import AdminAction, APIError, RolloutSet, RouteSet, StatusSet, parse
from .state import ServerState


def add_admin_routes(app, state: ServerState) -> None:
    """Declare the admin routes on `app` (after its route_class is set), served from `state`."""
    config = state.config

    def registry_call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as exc:
            raise APIError(400, str(exc), code="registry_refused") from None

    @app.get("/admin/routes")
    async def admin_routes(request: Request):
        check_key(config, request, admin=True)
        return {"routes": state.registry.route_status()}

    @app.post("/admin/routes/{character_id}/set")
    async def admin_set(character_id: str, request: Request):
        check_key(config, request, admin=True)
        body: RouteSet = await parse(config, request, RouteSet)
        base = body.base_model or state.registry.default_route_base(character_id, body.stable_version,
                                                                    state.default_base)
        return registry_call(state.registry.set_route, character_id, base_model=base,
                             stable_version=body.stable_version, candidate_version=body.candidate_version,
                             rollout_percent=body.rollout_percent, category=body.category, override=body.override,
                             actor=body.actor, reason=body.reason)

    @app.post("/admin/routes/{character_id}/rollout")
    async def admin_rollout(character_id: str, request: Request):
        check_key(config, request, admin=True)
        body: RolloutSet = await parse(config, request, RolloutSet)
        return registry_call(state.registry.rollout, character_id, body.candidate_version, body.percent,
                             override=body.override, actor=body.actor, reason=body.reason)

    @app.post("/admin/routes/{character_id}/promote")
    async def admin_promote(character_id: str, request: Request):
        check_key(config, request, admin=True)
        body: AdminAction = await parse(config, request, AdminAction)
        return registry_call(state.registry.promote, character_id, actor=body.actor, reason=body.reason)

    @app.post("/admin/routes/{character_id}/rollback")
    async def admin_rollback(character_id: str, request: Request):
        check_key(config, request, admin=True)
        body: AdminAction = await parse(config, request, AdminAction)
        return registry_call(state.registry.rollback, character_id, actor=body.actor, reason=body.reason)

    @app.post("/admin/adapters/{owner}/{version}/status")
    async def admin_status(owner: str, version: str, request: Request):
        check_key(config, request, admin=True)
        body: StatusSet = await parse(config, request, StatusSet)
        registry_call(state.registry.set_status, owner, version, body.status, actor=body.actor, reason=body.reason)
        return state.registry.get_adapter(owner, version)
