"""The messages the model sees: the character's system prompt, and `{{user}}` filled with the caller's name
(also in streamed text, where a delta may end inside the placeholder)."""

from __future__ import annotations

from .config import CharacterInfo
from .schema import ChatRequest


def fill_user(text: str, display_name: str) -> str:
    """`{{user}}` (as training data writes the caller) -> the caller's display name."""
    return text.replace("{{user}}", display_name)


class UserFiller:
    """Fills `{{user}}` in streamed text: a delta may end inside the placeholder ("…{{us"), so a tail
    that could still become `{{user}}` is held back until the next delta or flush()."""

    TOKEN = "{{user}}"

    def __init__(self, display_name: str):
        self.name, self.pending = display_name, ""

    def feed(self, delta: str) -> str:
        text = self.pending + delta
        keep = next((k for k in range(min(len(self.TOKEN) - 1, len(text)), 0, -1)
                     if self.TOKEN.startswith(text[-k:])), 0)
        self.pending = text[len(text) - keep:] if keep else ""
        return fill_user(text[: len(text) - keep], self.name)

    def flush(self) -> str:
        out, self.pending = fill_user(self.pending, self.name), ""
        return out


def prompt_messages(req: ChatRequest, info: CharacterInfo | None, display_name: str) -> list[dict]:
    """The messages the model sees: the character's short system prompt first unless the caller sent
    one, `developer` treated as `system`, `{{user}}` filled everywhere."""
    msgs = [{"role": "system" if m.role == "developer" else m.role, "content": fill_user(m.text(), display_name)}
            for m in req.messages]
    if info and info.system_prompt and not any(m["role"] == "system" for m in msgs):
        msgs.insert(0, {"role": "system", "content": fill_user(info.system_prompt, display_name)})
    return msgs
