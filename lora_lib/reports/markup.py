"""What every page shares: the stylesheet, the page shell, escaping, and atomic page writes."""

from __future__ import annotations

import html
import os
from pathlib import Path

from ..store import atomic_write_text, read_json

CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left;
vertical-align:top}th{background:#f4f4f4}code{font-size:90%}.ok{color:#176f2c;font-weight:600}
.failed{color:#b00020;font-weight:600}.muted{color:#888}.facts td:first-child{color:#555;white-space:nowrap}
.err{max-width:38em;font-family:monospace;font-size:85%;color:#b00020}
.chip{display:inline-block;padding:1px 6px;margin:1px;border-radius:8px;font-size:80%;border:1px solid currentColor}
.chip.ok{background:#e6f4ea;font-weight:400}.chip.failed{background:#fde7ea}.reasons{margin:4px 0;padding-left:1.2em;
font-size:85%;max-width:30em}summary{cursor:pointer}"""


def _write(path: Path, text: str) -> None:
    """Atomic write, readable by a web server (mkstemp makes files owner-only)."""
    atomic_write_text(path, text)
    os.chmod(path, 0o644)


def _read(path: Path) -> dict:
    return read_json(path) if path.exists() else {}


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _short(value, n: int = 12) -> str:
    return str(value)[:n] if value else "—"


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style><body>{body}</body></html>\n")

