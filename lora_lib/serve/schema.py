"""What a request must be: the body models, the body parsing, and the OpenAI-style error (`APIError`)."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from .config import ServeConfig


class _TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: StrictStr


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: StrictStr | list[_TextPart]
    name: StrictStr | None = None

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: StrictStr
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    user: StrictStr | None = None
    user_name: StrictStr | None = None  # extension: the caller's display name for {{user}}
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    n: StrictInt = 1
    ignore_eos: StrictBool = False  # vLLM's extension for benchmarks: generate exactly max_tokens
    temperature: float | None = Field(None, ge=0, le=2)  # None: serve.temperature; 0 = greedy
    top_p: float | None = Field(None, gt=0, le=1)        # None: serve.top_p
    seed: StrictInt | None = None  # same seed, prompt and version -> same reply (sampled rows only)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: StrictStr
    rating: Literal["up", "down"]
    comment: StrictStr | None = None


class RouteSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stable_version: StrictStr | None = None
    candidate_version: StrictStr | None = None
    rollout_percent: float = 0.0
    base_model: StrictStr | None = None
    category: StrictStr | None = None
    override: StrictBool = False
    actor: StrictStr = "api"
    reason: StrictStr = ""


class RolloutSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidate_version: StrictStr
    percent: float
    override: StrictBool = False
    actor: StrictStr = "api"
    reason: StrictStr = ""


class AdminAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: StrictStr = "api"
    reason: StrictStr = ""


class StatusSet(AdminAction):
    status: StrictStr


class APIError(Exception):
    """An OpenAI-style error: {"error": {"message", "type", "param", "code"}} with an HTTP status."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _validation_error(exc: ValidationError) -> APIError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return APIError(400, f"{loc}: {err['msg']}{more}", param=loc or None, code="invalid_value")

async def parse(config: ServeConfig, request: Request, model: type[BaseModel]) -> Any:
    """The request body as `model`: size limit (serve.max_request_bytes), JSON object, schema; else an APIError."""
    raw = await request.body()
    if len(raw) > config.serve.max_request_bytes:
        raise APIError(413, f"request body is {len(raw)} bytes; the limit is {config.serve.max_request_bytes}",
                       code="request_too_large")
    try:
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, "body must be a JSON object", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
