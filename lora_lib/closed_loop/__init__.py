"""The closed-loop demo (`lora demo closed-loop`): a bad adapter version at 20% of users, real traffic through
the router and engine, monitoring with auto-rollback, the bad replies back as negatives, a new version.

- bad.py: the bad versions (meta_talk, diverged, collapsed) and the offline gates they meet;
- users.py: the synthetic users (who writes next, their own reading of a reply, ratings, leaving);
- story.py: the story end to end (`closed_loop_demo`) and its report for notebook 07.
"""

from .bad import META_LINES, collapse_conversations, diverged_adapter, gate_adapter, inject_meta_talk
from .story import closed_loop_demo, report
from .users import Reader, SyntheticUsers

__all__ = ["META_LINES", "Reader", "SyntheticUsers", "closed_loop_demo", "collapse_conversations",
           "diverged_adapter", "gate_adapter", "inject_meta_talk", "report"]
