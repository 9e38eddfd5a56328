"""Request and feedback log (ground floor): the schema, the writer serve uses, the readers monitor uses.

One JSON line per answered request (fields: lora_lib/requestlog.md). Required fields:

  ts, character_id, adapter_version (null = base), group, user_ref, latency_ms,
  prompt_tokens, completion_tokens, reply, reply_chars, gates {gate: passed}

optional: request_id, messages (the prompt, for negatives), route_owner, feedback (inline rating).
Thumbs up/down normally arrive in a separate feedback log ({request_id, rating "up"|"down"}) and are
joined on request_id. Readers never drop a line silently: bad lines come back as problems.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

GROUPS: tuple[str, ...] = ("stable", "candidate", "base")
REQUIRED_FIELDS: tuple[str, ...] = ("ts", "character_id", "adapter_version", "group", "user_ref", "latency_ms",
                                    "prompt_tokens", "completion_tokens", "reply", "reply_chars", "gates")

# ---- the log (I/O edge) -----------------------------------------------------------------------------

def json_default(obj: Any) -> Any:
    """json default: numpy scalars and the like -> Python values."""
    return obj.item() if hasattr(obj, "item") else str(obj)


def append_request_log(path: str | Path, record: dict) -> None:
    """Append one record as a JSON line, creating parent dirs.

    If the file ends mid-line (a writer died), a newline goes first so the new record is not glued
    onto the broken one: the damage stays one bad line, which the reader reports.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, default=json_default) + "\n"
    with open(path, "ab+") as f:
        f.seek(0, 2)
        if f.tell() > 0:
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.write(line.encode("utf-8"))


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _problem(record: Any) -> str | None:
    """Why a request-log record cannot be used, or None. Names the field."""
    if not isinstance(record, dict):
        return f"not a JSON object ({type(record).__name__})"
    missing = [k for k in REQUIRED_FIELDS if k not in record]
    if missing:
        return f"missing fields: {', '.join(missing)}"
    if not isinstance(record["gates"], dict):
        return "field gates: not an object"
    bad_gates = [g for g, v in record["gates"].items() if not isinstance(v, bool)]
    if bad_gates:
        return f"field gates: non-boolean value for {', '.join(map(str, bad_gates))}"
    if not isinstance(record["character_id"], str) or not record["character_id"]:
        return "field character_id: not a non-empty string"
    if record["group"] not in GROUPS:
        return f"field group: {record['group']!r} is not one of {', '.join(GROUPS)}"
    if record["adapter_version"] is not None and not isinstance(record["adapter_version"], str):
        return "field adapter_version: not a string or null"
    for k in ("latency_ms", "prompt_tokens", "completion_tokens", "reply_chars"):
        if not is_number(record[k]) or record[k] < 0:
            return f"field {k}: not a non-negative number ({record[k]!r})"
    try:
        ts = datetime.fromisoformat(str(record["ts"]))
    except ValueError:
        return f"field ts: not an ISO 8601 time ({record['ts']!r})"
    if ts.tzinfo is None:
        return f"field ts: no time zone ({record['ts']!r}); the log is in UTC"
    return None


def read_request_log(path: str | Path) -> tuple[pd.DataFrame, list[dict]]:
    """(records as a frame with REQUIRED_FIELDS columns first, problems [{line, error}]).

    Tolerant: a bad JSON line (e.g. truncated by a crash) or a record with a missing or malformed
    field is quarantined with its 1-based line number and the reason, never silently dropped.
    Missing/empty file -> empty frame.
    """
    path = Path(path)
    rows: list[dict] = []
    problems: list[dict] = []
    if path.is_file():
        with open(path, encoding="utf-8", errors="replace") as f:
            for no, line in enumerate(f, start=1):
                _parse_line(no, line, rows, problems)
    return _log_frame(rows), problems


def _parse_line(no: int, line: str, rows: list[dict], problems: list[dict]) -> None:
    if not line.strip():
        return
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        problems.append({"line": no, "error": f"bad JSON: {e.msg} (col {e.colno})", "text": line.rstrip("\r\n")[:200]})
        return
    error = _problem(record)
    if error:
        problems.append({"line": no, "error": error, "text": line.rstrip("\r\n")[:200]})
    else:
        rows.append(record)


def _log_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(dict.fromkeys([*REQUIRED_FIELDS, *(k for r in rows for k in r)])))


class LogTail:
    """Incremental read_request_log for `--watch`: each read() parses only the lines appended since the
    last one. An unfinished last line (a writer mid-append) waits for its newline; a file that shrank or
    was replaced (rotation) is read again from the start. Same (frame, problems) as read_request_log."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._reset(None)

    def _reset(self, inode: int | None) -> None:
        self.inode, self.offset, self.line_no = inode, 0, 0
        self.rows: list[dict] = []
        self.problems: list[dict] = []

    def read(self) -> tuple[pd.DataFrame, list[dict]]:
        if not self.path.is_file():
            self._reset(None)
            return _log_frame([]), []
        st = self.path.stat()
        if st.st_ino != self.inode or st.st_size < self.offset:
            self._reset(st.st_ino)
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        for raw in complete.splitlines():
            self.line_no += 1
            _parse_line(self.line_no, raw.decode("utf-8", errors="replace"), self.rows, self.problems)
        return _log_frame(self.rows), list(self.problems)


def read_feedback(path: str | Path) -> tuple[pd.DataFrame, list[dict]]:
    """The feedback log ({request_id, rating "up"|"down", ...} per line) -> (frame, problems)."""
    path = Path(path)
    rows, problems = [], []
    if path.is_file():
        with open(path, encoding="utf-8", errors="replace") as f:
            for no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    problems.append({"line": no, "error": f"bad JSON: {e.msg} (col {e.colno})"})
                    continue
                if not isinstance(rec, dict) or not rec.get("request_id"):
                    problems.append({"line": no, "error": "missing fields: request_id"})
                elif rating_value(rec.get("rating", rec.get("score"))) is None:
                    problems.append({"line": no, "error": f"field rating: {rec.get('rating')!r} is not up/down"})
                else:
                    rows.append(rec)
    return pd.DataFrame(rows, columns=list(dict.fromkeys(["ts", "request_id", "rating",
                                                          *(k for r in rows for k in r)]))), problems


def rating_value(v: Any) -> float | None:
    """up / thumbs_up / True / 1 -> 1.0; down / thumbs_down / False / -1 / 0 -> 0.0; else None."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float) and v in (1, -1, 0):
        return 1.0 if v == 1 else 0.0
    if isinstance(v, str):
        return {"up": 1.0, "thumbs_up": 1.0, "down": 0.0, "thumbs_down": 0.0}.get(v.strip().lower())
    return None


def attach_feedback(df: pd.DataFrame, feedback: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Add a `feedback` column (1.0 up, 0.0 down, NaN none) joined on request_id; the last rating wins.

    Returns (frame, problems): feedback naming a request_id absent from the log is reported, not dropped
    silently (the request may predate the log's start).
    """
    out = df.copy()
    inline = out["feedback"].map(rating_value) if "feedback" in out.columns else pd.Series(None, index=out.index)
    out["feedback"] = pd.to_numeric(inline, errors="coerce")
    if feedback is None or feedback.empty:
        return out, []
    last = {str(r["request_id"]): rating_value(r.get("rating", r.get("score")))
            for r in feedback.to_dict(orient="records")}
    ids = out["request_id"].astype(str) if "request_id" in out.columns else pd.Series("", index=out.index)
    joined = ids.map(last)
    out["feedback"] = pd.to_numeric(joined.where(joined.notna(), out["feedback"]), errors="coerce")
    known = set(ids)
    orphans = [{"request_id": rid, "error": "feedback for a request_id not in the request log"}
               for rid in last if rid not in known]
    return out, orphans


# ---- metrics (pure) ---------------------------------------------------------------------------------


def user_ref(user: str) -> str:
    """Short stable pseudonym for a user id: logs never carry the raw id."""
    return hashlib.sha256(str(user).encode()).hexdigest()[:16]
