"""Reading mongoexport files and a live MongoDB: (line, document, error) triples, streaming.

Every form mongoexport writes (JSON lines or --jsonArray, canonical or relaxed Extended JSON) is
read with pymongo's bson.json_util one document at a time, so an export of several GB never sits
in memory whole; a live cursor yields the same triples. A bad document is an error, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bson import json_util
from bson.json_util import JSONOptions

from ..config import CollectParams

# Dates come back timezone-aware in UTC, whichever form ($date string or $numberLong) they had.
_JSON_OPTIONS = JSONOptions(tz_aware=True, tzinfo=UTC)
_CHUNK = 1 << 20
# Bytes that change the array scanner's state; everything else is skipped in bulk.
_ARRAY_TOKENS = re.compile(rb'["\\{}\[\]\n]')


class CollectError(ValueError):
    """An input problem that stops collection (not a single bad document): names file and line."""


# ---- reading exports ----------------------------------------------------------------------------

def decode_document(raw: bytes | str, max_bytes: int) -> tuple[dict | None, str | None]:
    """One document's bytes -> (document, error); never raises."""
    if len(raw) > max_bytes:
        return None, f"document is {len(raw):,} bytes, over collect.max_document_bytes={max_bytes:,}"
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"not UTF-8: byte {raw[exc.start]:#04x} at offset {exc.start}"
    try:
        doc = json_util.loads(raw, json_options=_JSON_OPTIONS)
    except Exception as exc:  # noqa: BLE001 - bson raises many types (InvalidId, InvalidBSON, RecursionError…)
        return None, f"not valid Extended JSON ({type(exc).__name__}): {str(exc)[:200]}"
    if not isinstance(doc, dict):
        return None, f"not a document but a JSON {type(doc).__name__}"
    return doc, None


def _gap_error(gap: bytes) -> str | None:
    junk = gap.strip(b" \t\r\n,")
    return f"unexpected text between documents: {junk[:60]!r}" if junk else None


def _iter_array(fh, max_bytes: int, line: int = 1, array: bool = True
                ) -> Iterator[tuple[int, bytes | None, str | None]]:
    """Stream the elements of a JSON array (fh is just past its '['): (line, bytes, structural error).
    With array=False, stream concatenated documents instead (mongoexport --pretty without --jsonArray).

    A small scanner follows strings and nesting so each element is cut out without parsing the
    whole array; a broken element is still cut at its closing brace and only it is quarantined
    (a missing brace can take the following elements with it: JSON lines isolate errors better).
    An element over max_bytes is skipped without being held in memory.
    """
    depth, in_str, esc_at = 0, False, -1
    buf: list[bytes] = []
    buf_len, too_big, start_line, gap = 0, False, line, b""
    while chunk := fh.read(_CHUNK):
        seg = 0  # where the part of this chunk not yet handed on starts
        for m in _ARRAY_TOKENS.finditer(chunk):
            i, c = m.start(), chunk[m.start()]
            if c == 0x0A:
                line += 1
                continue
            if i == esc_at:  # the byte after a backslash inside a string
                continue
            if in_str:
                if c == 0x5C:
                    esc_at = i + 1
                elif c == 0x22:
                    in_str = False
                continue
            if c == 0x22:
                in_str = True
            elif c in (0x7B, 0x5B):  # { [
                if depth == 0:
                    if err := _gap_error(gap + chunk[seg:i]):
                        yield line, None, err
                    seg, start_line, buf, buf_len, too_big, gap = i, line, [], 0, False, b""
                depth += 1
            elif depth == 0:  # ] closes the array; a stray } or ] is junk between documents
                closes = array and c == 0x5D
                if err := _gap_error(gap + chunk[seg:i + (not closes)]):
                    yield line, None, err
                if closes:
                    return
                seg, gap = i + 1, b""
            else:
                depth -= 1
                if depth == 0:
                    piece = chunk[seg:i + 1]
                    if too_big or buf_len + len(piece) > max_bytes:
                        yield start_line, None, f"document is over collect.max_document_bytes={max_bytes:,} bytes"
                    else:
                        yield start_line, b"".join(buf) + piece, None
                    seg, buf, buf_len, too_big = i + 1, [], 0, False
        esc_at = 0 if esc_at == len(chunk) else -1
        rest = chunk[seg:]
        if depth > 0:
            buf_len += len(rest)
            if buf_len > max_bytes:
                too_big, buf = True, []
            elif not too_big:
                buf.append(rest)
        else:
            gap = (gap + rest)[-4096:]  # only needed to name junk; never the size of the file
    if depth:
        yield start_line, None, "export ends inside a document (truncated file?)"
    elif array:
        yield line, None, "export ends before the array is closed (truncated file?)"
    elif err := _gap_error(gap):
        yield line, None, err


def _iter_lines(fh, max_bytes: int) -> Iterator[tuple[int, bytes | None, str | None]]:
    """JSON lines, one document per line; a line over max_bytes is skipped in chunks, never held whole."""
    lineno = 0
    while True:
        raw = fh.readline(max_bytes + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            size = len(raw)
            while (more := fh.readline(_CHUNK)) and not more.endswith(b"\n"):
                size += len(more)
            size += len(more)
            yield lineno, None, f"document is over collect.max_document_bytes={max_bytes:,} bytes ({size:,} bytes)"
        elif raw.strip():
            yield lineno, raw, None


def iter_export(path: str | Path, max_bytes: int = 1 << 20) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield (line, document, error) for a mongoexport file, streaming; a bad document is an error, not a crash.

    JSON lines (the default of mongoexport) and --jsonArray are told apart by the first byte;
    --pretty output (a document over several lines, "{" alone on the first) is read as a stream of
    documents. In JSON lines a broken document costs only its line.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"export file not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(4096)
        body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
        stripped = body.lstrip()
        if stripped.startswith(b"["):
            offset = len(head) - len(stripped) + 1
            fh.seek(offset)
            yield from ((ln, *decode_document(raw, max_bytes)) if err is None else (ln, None, err)
                        for ln, raw, err in _iter_array(fh, max_bytes, line=1 + head[:offset].count(b"\n")))
            return
        fh.seek(len(head) - len(body))
        pretty = body.split(b"\n", 1)[0].strip() == b"{"
        chunks = _iter_array(fh, max_bytes, array=False) if pretty else _iter_lines(fh, max_bytes)
        for lineno, raw, err in chunks:
            yield (lineno, None, err) if err else (lineno, *decode_document(raw, max_bytes))


def iter_mongo(uri: str, database: str, collection: str, query: dict | None = None, *,
               batch_size: int = 1000) -> Iterator[tuple[int, dict | None, str | None]]:
    """Documents from a live MongoDB through pymongo, shaped like iter_export (line = position).

    The query is sent to the server (use mongo_query to filter by character and time range), and
    the cursor streams in batches, so a big collection is never loaded whole.
    """
    from pymongo import MongoClient

    client = MongoClient(uri, tz_aware=True, tzinfo=UTC)
    try:
        cursor = client[database][collection].find(query or {}, batch_size=batch_size)
        for i, doc in enumerate(cursor, 1):
            yield i, doc, None
    finally:
        client.close()


def mongo_query(p: CollectParams, character_id: str | None = None, since: datetime | None = None,
                until: datetime | None = None) -> dict:
    """The server-side filter for one character's messages in [since, until), with the configured field names."""
    q: dict = {}
    if character_id is not None:
        q[p.fields.character_id] = character_id
    if since is not None or until is not None:
        q[p.fields.created_at] = {k: v for k, v in (("$gte", since), ("$lt", until)) if v is not None}
    return q


def _as_datetime(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None
