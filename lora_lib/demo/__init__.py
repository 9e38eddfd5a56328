"""The embedded default: a synthetic character world and a tiny local base chat model."""

from __future__ import annotations

from pathlib import Path

# size -> (chats per character, gold per character, polite chats for the base model)
SIZES = {"demo": (300, 50, 2000), "test": (40, 10, 400)}
# Shares of the base model's corpus besides polite chats: users role-playing in every register
# (so the words are known) and chats that explain 냥/멍/하오체; the replies stay polite throughout.
ROLEPLAY_SHARE, KNOWLEDGE_SHARE = 0.25, 0.05
# Share of the base's chats opened by a generic system prompt: every dataset record and held-out
# prompt starts with the character's, and a base that never saw a system turn answered all of them
# with the same stock line.
SYSTEM_SHARE = 0.5


def build_demo(store: str | Path = "runs", *, seed: int = 0, size: str = "demo", progress: bool = True) -> dict:
    """Write <store>/demo/world and <store>/demo/base_model; both are deterministic and cached."""
    from .base_model import build_base_model
    from .world import build_world, knowledge_chats, polite_chats, roleplay_chats, with_system_prompts

    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; choose from {sorted(SIZES)}")
    chats, gold, polite = SIZES[size]
    root = Path(store) / "demo"
    world = build_world(root / "world", seed=seed, chats_per_character=chats, gold_per_character=gold)
    corpus = with_system_prompts(
        polite_chats(polite, seed=seed) + roleplay_chats(int(polite * ROLEPLAY_SHARE), seed=seed)
        + knowledge_chats(int(polite * KNOWLEDGE_SHARE), seed=seed), SYSTEM_SHARE, seed=seed)
    model = build_base_model(root / "base_model", corpus, seed=seed, size=size, progress=progress)
    return {"world": world, "base_model": model}
