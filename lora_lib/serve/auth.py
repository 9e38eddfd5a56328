"""The API key check (`Authorization: Bearer $LORA_API_KEY`) for the admin and, optionally, the chat routes."""

from __future__ import annotations

import secrets

from fastapi import Request

from .config import API_KEY_ENV, ServeConfig
from .schema import APIError


def check_key(config: ServeConfig, request: Request, *, admin: bool) -> None:
    """`Authorization: Bearer <key>` against config.api_key; the admin API is refused when no key is set."""
    key = config.api_key
    if key is None:
        if admin:
            raise APIError(403, f"admin API disabled: start the server with {API_KEY_ENV} set",
                           type="permission_error", code="admin_disabled")
        return
    given = request.headers.get("authorization", "")
    token = given[7:] if given.lower().startswith("bearer ") else ""
    if not token:
        raise APIError(401, "missing API key: send 'Authorization: Bearer <key>'",
                       type="authentication_error", code="missing_api_key")
    if not secrets.compare_digest(token.encode(), key.encode()):
        raise APIError(401, "invalid API key", type="authentication_error", code="invalid_api_key")
