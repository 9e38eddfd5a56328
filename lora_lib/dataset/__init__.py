"""Dataset: clean conversations -> an immutable, content-addressed ChatML version.

A version lives in <store>/datasets/<scope>/<version>/ (scope = the character id, or
`category-<name>` for a per-category adapter) with train.jsonl, eval.jsonl, preferences.jsonl,
rejected.jsonl and manifest.json. Its id is a hash of the records and of the cleaning and
formatting configs (tokenizer hash included), so the same inputs always give the same id, writing
it again is a no-op, and different content can never overwrite it (a directory whose files do not
match its own manifest is reported, never replaced). Records carry the OpenAI `messages` shape: a
short system prompt with the character's core rules (never the card's long prompt or lorebook),
then the real turns; conversations longer than `train.max_length` tokens are split at turn
boundaries, never mid-turn.

- records.py   pure: ChatML, splits at turn boundaries, train/eval split, pairs, version id, prepare
- tokens.py    the base model's tokenizer: counts, fingerprint, formatted samples
- build.py     scope (character or category), build_version, the stage's build_for_run
- versions.py  the version directory: atomic write, verify, latest, find, load
"""

from .build import build_for_run, build_version, read_negatives, scope_key, scope_members
from .records import (
    DatasetError,
    TokenCounter,
    eval_prompts,
    exchanges,
    is_eval,
    pairs_table,
    preference_pairs,
    prepare,
    split_long,
    split_records,
    to_chatml,
    token_stats,
    version_id,
)
from .tokens import (
    approximate_counter,
    formatted_samples,
    load_tokenizer,
    record_lengths,
    token_counter,
    tokenizer_fingerprint,
)
from .versions import DATA_FILES, find_version, latest_version, load_preferences, load_version, verify_version

__all__ = [
    "DATA_FILES", "DatasetError", "TokenCounter", "approximate_counter", "build_for_run", "build_version",
    "eval_prompts", "exchanges", "find_version", "formatted_samples", "is_eval", "latest_version",
    "load_preferences", "load_tokenizer", "load_version", "pairs_table", "preference_pairs", "prepare",
    "read_negatives", "record_lengths", "scope_key", "scope_members", "split_long", "split_records",
    "to_chatml", "token_counter", "token_stats", "tokenizer_fingerprint", "verify_version", "version_id",
]
