"""What a request must be: the body models, the body parsing, and the OpenAI-style error (`APIError`)."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from .config import ServeConfig
from .openai_params import refusal


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


class _Decoding(BaseModel):
    """What both completion endpoints take besides the prompt (openai_params.PARAMS lists each field;
    a field it refuses or does not know never gets here: check_params answers 400 first)."""

    model_config = ConfigDict(extra="ignore")
    model: StrictStr
    stream: StrictBool = False
    stream_options: dict | None = None  # usage is always in the last chunk
    user: StrictStr | None = None
    max_tokens: StrictInt | None = Field(None, ge=1)
    n: StrictInt = Field(1, ge=1)
    ignore_eos: StrictBool = False  # vLLM's extension for benchmarks: generate exactly max_tokens
    temperature: float | None = Field(None, ge=0, le=2)  # None: serve.temperature; 0 = greedy
    top_p: float | None = Field(None, gt=0, le=1)        # None: serve.top_p
    seed: StrictInt | None = None  # same seed, prompt and version -> same reply (sampled rows only)
    stop: StrictStr | list[StrictStr] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    repetition_penalty: float | None = Field(None, gt=0, le=2)  # vLLM's extension

    def stops(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > 4 or any(not s for s in stops):
            raise APIError(400, "stop: a string or a list of up to 4 non-empty strings", param="stop",
                           code="invalid_value")
        return tuple(dict.fromkeys(stops))


class ChatRequest(_Decoding):
    messages: list[ChatMessage] = Field(min_length=1)
    user_name: StrictStr | None = None  # extension: the caller's display name for {{user}}
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = Field(None, ge=0, le=20)

    def top_tokens(self) -> int | None:
        """How many top tokens per generated token (None: no logprobs)."""
        if self.top_logprobs is not None and not self.logprobs:
            raise APIError(400, "top_logprobs needs logprobs: true", param="top_logprobs", code="invalid_value")
        return (self.top_logprobs or 0) if self.logprobs else None


class CompletionRequest(_Decoding):
    prompt: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]
    logprobs: StrictInt | None = Field(None, ge=0, le=20)

    def prompts(self) -> list[str | list[int]]:
        p = self.prompt
        prompts = [p] if isinstance(p, str) or (p and isinstance(p[0], int)) else list(p)
        if not prompts or any(len(x) == 0 for x in prompts):
            raise APIError(400, "prompt: a non-empty string, list of strings or token ids", param="prompt",
                           code="invalid_value")
        return prompts

    def top_tokens(self) -> int | None:
        return self.logprobs


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

def check_params(data: dict, endpoint: str) -> None:
    """400 naming the first parameter this server does not know or does not implement (openai_params)."""
    for name, value in data.items():
        why = refusal(name, value, endpoint)
        if why:
            raise APIError(400, why, param=name, code="unsupported_parameter")


async def parse(config: ServeConfig, request: Request, model: type[BaseModel], endpoint: str | None = None) -> Any:
    """The request body as `model`: size limit (serve.max_request_bytes), JSON object, the parameters
    (with `endpoint`, CHAT or COMPLETIONS: openai_params), schema; else an APIError."""
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
    if endpoint is not None:
        check_params(data, endpoint)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
