"""A seeded, deterministic synthetic "world" in production formats.

`build_world(out_dir, seed)` writes what production would hand the collect stage: mongoexport JSON
lines of chat messages, users and character cards, author-written gold dialogues and deletion
requests, plus `ground_truth.jsonl` (every planted hazard, so tests can check that later stages
catch it) and `decoys.jsonl` (clean turns that only *look* risky, so tests can check that later
stages keep them). `polite_chats(n, seed)` gives neutral polite assistant chats over the same user
prompts, to pre-train the tiny base chat model.

Three characters speak distinct, regex-checkable styles (see `DEMO_CHARACTERS[...]["style_markers"]`):
나비 the cat ends every sentence with "냥", 보리 the puppy with "멍", 김선비 speaks 하오체.

Modules, by what they generate: `styles` (registers and rendering), `cards` (the characters),
`topics` (prompts and reply ideas), `dialogue` (clean conversations), `corpus` (the base model's
pre-training chats), `users`, `chats`, `pii` and `hazards` (planted hazards, decoys, malformed docs
and ground truth), `export` (the production formats) and `build` (`build_world`).

Same seed -> byte-identical files: every random choice comes from `random.Random` streams seeded
from `seed`, and nothing reads the clock.
"""

from .build import build_world
from .cards import CHARACTER_IDS, DEMO_CHARACTERS
from .corpus import knowledge_chats, polite_chats, roleplay_chats, with_system_prompts
from .topics import TOPIC_NAMES

__all__ = ["CHARACTER_IDS", "DEMO_CHARACTERS", "TOPIC_NAMES", "build_world", "knowledge_chats",
           "polite_chats", "roleplay_chats", "with_system_prompts"]
