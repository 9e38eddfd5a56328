"""Automatic gates on one reply: language, meta leak, repetition/length, policy.

Each gate answers "did the reply pass?". `explain_reply` gives the reasons a gate failed (empty list =
passed); `check_reply` is the boolean view the monitor and the decision use. Thresholds come from
`GateParams` (params: evaluate.gates); the meta patterns of the cleaning stage are applied too, so a
reply is judged by at least the rules its training data was.

Every check is about linear in the reply's length: a 100,000-character reply takes ~0.3 s here.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from ..config import CleanParams, GateParams
from ..store import iter_jsonl_lines

GATES = ("language", "meta_leak", "repetition", "policy")
LABELS_PATH = Path(__file__).parent / "data" / "gate_labels.jsonl"

# Letters of each supported language's script (jamo such as "ㅋㅋ" count as Hangul).
_SCRIPTS = {
    "ko": re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3131-\u318e]"),
    "ja": re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]"),
    "zh": re.compile(r"[\u4e00-\u9fff]"),
    "en": re.compile(r"[A-Za-z]"),
}
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_LETTER = re.compile(r"[^\W\d_]")
_ADDRESS = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}\.[\w.]{2,63}|https?://\S+|www\.\S+")
_SENTENCE = re.compile(r"[^.!?~…\n]+[.!?~…]*")
_CLEAN_META = tuple(CleanParams().meta_patterns)


@lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"evaluate.gates: invalid regex {p!r}: {exc}") from None
    return tuple(out)


def script_share(text: str, language: str = "ko", loanword_max_chars: int = 4, max_loanwords: int = 2) -> float:
    """Share of letters in `language`'s script. Emails and URLs are ignored (policy judges them), and so
    are up to `max_loanwords` Latin words of <= loanword_max_chars letters ("PC방", "OK", "LOL") when the
    language is not English. 1.0 when no letters are left."""
    if language not in _SCRIPTS:
        raise ValueError(f"evaluate.gates.language: unsupported language {language!r}; one of {sorted(_SCRIPTS)}")
    text = _ADDRESS.sub(" ", text)
    if language != "en" and loanword_max_chars > 0:
        short = [m for m in _LATIN_WORD.finditer(text) if len(m.group()) <= loanword_max_chars]
        if 0 < len(short) <= max_loanwords:
            text = _LATIN_WORD.sub(lambda m: " " if len(m.group()) <= loanword_max_chars else m.group(), text)
    letters = _LETTER.findall(text)
    if not letters:
        return 1.0
    own = _SCRIPTS[language]
    return sum(1 for c in letters if own.match(c)) / len(letters)


def repeated_ngram_count(text: str, n: int = 3) -> int:
    """How often the most frequent word n-gram occurs (1 for a text without repeats, 0 if too short)."""
    words = text.split()
    grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return max(grams.values(), default=0)


def _language_reasons(text: str, language: str, g: GateParams) -> list[str]:
    share = script_share(text, language, g.loanword_max_chars, g.max_loanwords)
    letters = _LETTER.findall(text)
    if letters and not any(_SCRIPTS[language].match(c) for c in letters):
        return [f"no {language} letters at all"]
    if share < g.min_script_share:
        return [f"{language} share {share:.2f} < {g.min_script_share}"]
    return []


def _prompt_overlap(text: str, system_prompt: str, n: int) -> str | None:
    """The first n-character piece of the system prompt quoted verbatim in text (whitespace-normalized)."""
    prompt = re.sub(r"\s+", " ", system_prompt or "").strip()
    if len(prompt) < n:
        return None
    flat = re.sub(r"\s+", " ", text)
    pieces = {prompt[i:i + n] for i in range(len(prompt) - n + 1)}
    return next((flat[i:i + n] for i in range(len(flat) - n + 1) if flat[i:i + n] in pieces), None)


def _meta_reasons(text: str, system_prompt: str, g: GateParams, extra: Sequence[str]) -> list[str]:
    out = [f"meta pattern {rx.pattern!r}: {m.group()!r}"
           for rx in _compiled(tuple(_CLEAN_META) + tuple(g.meta_patterns) + tuple(extra))
           if (m := rx.search(text))]
    quote = _prompt_overlap(text, system_prompt, g.min_prompt_overlap)
    if quote:
        out.append(f"quotes the system prompt: {quote!r}")
    return out


@lru_cache(maxsize=16)
def _loop_regex(max_repeats: int) -> re.Pattern:
    # a 2-12 character chunk (not starting with a space) followed by more than max_repeats copies
    return re.compile(r"(\S.{1,11}?)\1{" + str(max_repeats) + ",}", re.DOTALL)


def _repetition_reasons(text: str, g: GateParams, max_chars: int, max_repeat_ngram: int) -> list[str]:
    stripped = text.strip()
    if not stripped:
        return ["empty reply"]
    out = []
    if len(stripped) > max_chars:
        out.append(f"too long: {len(stripped)} chars > {max_chars}")
    n_letters = len(_LETTER.findall(stripped))
    if n_letters < g.min_letters:
        out.append(f"only {n_letters} letters (< {g.min_letters}): no words")
    top = repeated_ngram_count(stripped, g.repeat_ngram_n)
    if top > max_repeat_ngram:
        out.append(f"a word {g.repeat_ngram_n}-gram occurs {top} times (> {max_repeat_ngram})")
    run = re.search(r"(.)\1{" + str(g.max_char_run) + ",}", stripped)
    if run:
        out.append(f"character run {run.group()[:12]!r}… of {len(run.group())} (> {g.max_char_run})")
    # one character repeated is a character run (judged above, with its own limit)
    loop = next((m for m in _loop_regex(g.max_loop_repeats).finditer(stripped) if len(set(m.group(1))) > 1), None)
    if loop:
        chunk = loop.group(1)
        out.append(f"loop: {chunk!r} repeated {len(loop.group()) // len(chunk)} times back to back "
                   f"(> {g.max_loop_repeats})")
    sentences = Counter(s.strip(" .!?~…") for s in _SENTENCE.findall(stripped))
    sentences.pop("", None)
    if sentences:
        sent, count = sentences.most_common(1)[0]
        if count > g.max_sentence_repeats:
            out.append(f"sentence {sent[:30]!r} repeated {count} times (> {g.max_sentence_repeats})")
    words = stripped.split()
    if len(words) >= 6:
        word, count = Counter(words).most_common(1)[0]
        if count > max(max_repeat_ngram + 1, len(words) // 2):
            out.append(f"word {word[:20]!r} is {count} of {len(words)} words")
    return out


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _policy_reasons(text: str, banned_words: Sequence[str], g: GateParams) -> list[str]:
    squashed = _squash(text)
    out = [f"banned word {w!r}" for w in dict.fromkeys([*g.banned_words, *banned_words])
           if w and w.strip() and _squash(w) in squashed]
    out += [f"sensitive pattern {rx.pattern!r}: {m.group()!r}" for rx in _compiled(tuple(g.sensitive_patterns))
            if (m := rx.search(text))]
    return out


def explain_reply(reply: str | None, *, system_prompt: str | None = "", banned_words: Sequence[str] | None = (),
                  language: str | None = None, params: GateParams | None = None, max_chars: int = 400,
                  max_repeat_ngram: int = 3, extra_meta_patterns: Sequence[str] = ()) -> dict[str, list[str]]:
    """Per gate, the reasons the reply failed it (an empty list = passed).

    None counts as an empty reply; any other non-string is a TypeError. `language` defaults to
    params.language. An unsupported language or an invalid regex in params is a ValueError.
    """
    if reply is None:
        reply = ""
    if not isinstance(reply, str):
        raise TypeError(f"reply must be a string, got {type(reply).__name__}")
    g = params or GateParams()
    language = language or g.language
    return {
        "language": _language_reasons(reply, language, g),
        "meta_leak": _meta_reasons(reply, system_prompt or "", g, extra_meta_patterns),
        "repetition": _repetition_reasons(reply, g, max_chars, max_repeat_ngram),
        "policy": _policy_reasons(reply, banned_words or (), g),
    }


def check_reply(reply: str | None, *, system_prompt: str | None = "", banned_words: Sequence[str] | None = (),
                language: str | None = "ko", params: GateParams | None = None, max_chars: int = 400,
                max_repeat_ngram: int = 3) -> dict[str, bool]:
    """Per gate (GATES), whether the reply passed."""
    reasons = explain_reply(reply, system_prompt=system_prompt, banned_words=banned_words, language=language,
                            params=params, max_chars=max_chars, max_repeat_ngram=max_repeat_ngram)
    return {gate: not r for gate, r in reasons.items()}


def gate_kwargs(p) -> dict:
    """check_reply/explain_reply keyword arguments from a character's resolved Params."""
    e = p.evaluate
    return {"system_prompt": p.character.system_prompt, "banned_words": p.character.banned_words,
            "language": e.gates.language, "params": e.gates, "max_chars": e.max_reply_chars,
            "max_repeat_ngram": e.max_repeat_ngram}


# ---- step 2 of evaluation: the gates over every model's replies ----------------------------------------

def gate_scores(replies: Sequence[str], p) -> dict:
    """Per-gate pass rates, per-reply pass/fail and per-reply reasons of one model's replies."""
    kwargs = gate_kwargs(p)
    reasons = [explain_reply(r, **kwargs) for r in replies]
    n = max(len(replies), 1)
    return {"n": len(replies), "gate_pass_rate": {g: sum(not r[g] for r in reasons) / n for g in GATES},
            "checks": [{g: not r[g] for g in GATES} for r in reasons], "reasons": reasons}


def score_gates(replies: dict[str, list[str]], p) -> dict[str, dict]:
    """{model: gate_scores} for {model: replies} (the notebook's gates cell; re-run it after a threshold
    change without regenerating)."""
    return {who: gate_scores(texts, p) for who, texts in replies.items()}


# ---- measured quality of the gates on the labelled set ----------------------------------------------

def load_labels(path: str | Path = LABELS_PATH) -> list[dict]:
    """The hand-labelled replies: {id, character_id, reply, fails: [gates a reviewer says it fails], ...}."""
    rows = []
    for lineno, row in iter_jsonl_lines(path):
        for key in ("reply", "fails", "character_id"):
            if key not in row:
                raise ValueError(f"{path}:{lineno}: missing field {key!r}")
        unknown = set(row["fails"]) - set(GATES)
        if unknown:
            raise ValueError(f"{path}:{lineno}: field 'fails': unknown gates {sorted(unknown)}")
        rows.append(row)
    return rows


def gate_quality(labels: Sequence[dict], system_prompts: dict[str, str], params: GateParams | None = None,
                 **kwargs) -> list[dict]:
    """Per gate: tp/fp/fn/tn, precision and recall of *failing* a reply (positive = a violation).

    Also the misclassified ids, so a reader can look at them. `system_prompts` maps character ids to
    the system prompt each reply is checked against.
    """
    counts = {g: {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "false_positives": [], "false_negatives": []} for g in GATES}
    for row in labels:
        got = check_reply(row["reply"], system_prompt=system_prompts.get(row["character_id"], ""),
                          banned_words=row.get("banned_words", ()), params=params, **kwargs)
        for g in GATES:
            truth, flagged = g in row["fails"], not got[g]
            c = counts[g]
            key = ("tp" if truth else "fp") if flagged else ("fn" if truth else "tn")
            c[key] += 1
            if key == "fp":
                c["false_positives"].append(row.get("id"))
            elif key == "fn":
                c["false_negatives"].append(row.get("id"))
    out = []
    for g, c in counts.items():
        flagged, bad = c["tp"] + c["fp"], c["tp"] + c["fn"]
        out.append({"gate": g, "n": len(labels), "violations": bad, **{k: c[k] for k in ("tp", "fp", "fn", "tn")},
                    "precision": c["tp"] / flagged if flagged else None, "recall": c["tp"] / bad if bad else None,
                    "false_positives": c["false_positives"], "false_negatives": c["false_negatives"]})
    return out


def format_quality(rows: list[dict]) -> str:
    """gate_quality rows as a plain-text table plus the misclassified ids."""
    def fmt(v):
        return "  n/a" if v is None else f"{v:.3f}"

    out = [f"{'gate':<11} {'bad':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'tn':>4} {'precision':>9} {'recall':>7}"]
    out += [f"{r['gate']:<11} {r['violations']:>4} {r['tp']:>4} {r['fp']:>4} {r['fn']:>4} {r['tn']:>4} "
            f"{fmt(r['precision']):>9} {fmt(r['recall']):>7}" for r in rows]
    out += [f"  {r['gate']}: false positives {r['false_positives']}, false negatives {r['false_negatives']}"
            for r in rows if r["false_positives"] or r["false_negatives"]]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m lora_lib.evaluate.gates [labels.jsonl] [--params DIR]`: the precision/recall table."""
    import argparse

    from ..config import known_characters, load_params

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("labels", nargs="?", default=str(LABELS_PATH))
    ap.add_argument("--params", default="params")
    args = ap.parse_args(argv)
    prompts, gate_params = {}, None
    for cid in known_characters(args.params):
        p = load_params(cid, params_dir=args.params)
        prompts[cid], gate_params = p.character.system_prompt, p.evaluate.gates
    labels = load_labels(args.labels)
    splits = {"all": labels}
    for row in labels:
        splits.setdefault(row.get("split", "dev"), []).append(row)
    for name, subset in splits.items():
        print(f"\n[{name}] {len(subset)} labelled replies ({sum(not r['fails'] for r in subset)} clean) "
              f"from {args.labels}")
        print(format_quality(gate_quality(subset, prompts, gate_params)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
