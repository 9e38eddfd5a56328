"""Adapter names and statuses: `<owner>@<version>`, immutable once registered."""

from __future__ import annotations

import re

STATUSES = ("candidate", "approved", "rejected", "needs_retrain", "retired")
WEIGHTS_FILE = "adapter_model.safetensors"
_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def adapter_name(owner: str, version: str | None) -> str:
    """The immutable serving name `<owner>@<version>` (`<owner>@base` for the bare base model)."""
    return f"{owner}@{version or 'base'}"


def parse_adapter_name(name: str) -> tuple[str, str]:
    """`"nabi@abc123"` -> ("nabi", "abc123"); anything else -> ValueError naming the input."""
    owner, sep, version = str(name).partition("@")
    if not sep or not _NAME_PART.match(owner) or not _NAME_PART.match(version):
        raise ValueError(f"not an adapter name {name!r}: expected <character>@<version>")
    return owner, version

# Append-only in the database itself, not only by the absence of an API: on SQLite any UPDATE or
