"""Precision/recall per PII label on a labelled set, for ours, ko-pii alone and Presidio.

A gold span counts as found when predictions of the same label cover at least 90% of its
characters (a half-masked phone number is still a leak); a prediction counts as correct when it
overlaps a gold span of its label. Predictions of labels outside ours (ko-pii's FRN, Presidio's
URL or US_DRIVER_LICENSE, ...) are wrong by definition and count against overall precision as
"OTHER". Run: python -m lora_lib.clean.pii_eval [--presidio] [--out FILE]

The sets written apart from the rules (tests/data/pii_holdout4_ko.jsonl, round 4's held-out set, the
default of --holdout; pii_holdout3_ko.jsonl, round 3's held-out set, tuned on in round 4;
tests/data/pii_holdout2_ko.jsonl, round 2's held-out set, tuned on in round 3; and
tests/data/pii_tuning2_ko.jsonl, round 1's held-out set, tuned on in rounds 2 and 3; pass --holdout FILE for
another) have another format: {"id", "text", "pii": [{"text", "kind"}], "keep": [...], "known": [...]}, with kinds
NAME PHONE EMAIL ADDRESS HANDLE ID USER. `score_holdout` scores it: a pii text is found when every
place it occurs is covered >= 90% by predictions (so it no longer appears verbatim there); a
prediction is correct when it overlaps a place where a pii text occurs; keep-rate is the share of
keep substrings still verbatim in the redacted text. Run: python -m lora_lib.clean.pii_eval --holdout
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from ..store import iter_jsonl_lines
from .pii import KO_PII_LABELS, LABELS, redact

Span = tuple[str, int, int]
Detector = Callable[[str, Sequence[str]], list[Span]]
DEFAULT_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_ko_chat.jsonl"
HOLDOUT_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_holdout4_ko.jsonl"
HOLDOUT10_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_holdout10_ko.jsonl"
HOLDOUT11_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_holdout11_ko.jsonl"
HOLDOUT9_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_holdout9_ko.jsonl"
HOLDOUT8_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_holdout8_ko.jsonl"
HOLDOUT7_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_holdout7_ko.jsonl"
HOLDOUT6_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_holdout6_ko.jsonl"
HOLDOUT5_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_holdout5_ko.jsonl"
HOLDOUT3_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_holdout3_ko.jsonl"
HOLDOUT2_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_holdout2_ko.jsonl"
TUNING2_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_tuning2_ko.jsonl"
HOLDOUT_KINDS = ("NAME", "PHONE", "EMAIL", "ADDRESS", "HANDLE", "ID", "USER")
# The demo characters' own names (params/characters/*.yaml), passed as the clean stage passes them.
CHARACTER_NAMES = ("나비", "보리", "김선비")
PRESIDIO_MAP = {"PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "EMAIL", "CREDIT_CARD": "CARD", "KR_RRN": "RRN",
                "PERSON": "NAME", "LOCATION": "ADDRESS", "IBAN_CODE": "ACCOUNT", "US_BANK_NUMBER": "ACCOUNT"}


def load_set(path: str | Path = DEFAULT_SET) -> list[dict]:
    rows = []
    for lineno, row in iter_jsonl_lines(path):
        for s in row["spans"]:
            if s["label"] not in LABELS or not 0 <= s["start"] < s["end"] <= len(row["text"]):
                raise ValueError(f"{path}:{lineno}: bad span {s}")
        rows.append(row)
    return rows


def ours(text: str, known_values: Sequence[str] = ()) -> list[Span]:
    return redact(text, known_values).findings


def ko_pii_alone(text: str, known_values: Sequence[str] = ()) -> list[Span]:
    """ko-pii's detect_all on the identifier labels plus PERSON, as a user would run it for chat."""
    import ko_pii

    return [("NAME" if d.label == "PERSON" else d.label, d.start, d.end)
            for d in ko_pii.detect_all(text, include=(*KO_PII_LABELS, "PERSON"))]


def presidio_default() -> Detector:
    """Presidio's AnalyzerEngine with its default recognizers.

    The default engine loads the spaCy model en_core_web_lg and downloads it when missing; offline
    that fails. So the NLP engine here is a blank English spaCy pipeline: every pattern recognizer
    (phone, e-mail, card, IBAN, IP, URL, ...) runs as shipped, only the NER-based PERSON/LOCATION
    recognizers find nothing (they would need the downloaded model, and it is an English model).
    """
    try:
        import spacy
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
    except ImportError as exc:
        raise RuntimeError("presidio-analyzer is not installed: pip install presidio-analyzer") from exc
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])
    engine.nlp = {"en": spacy.blank("en")}
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])

    def detect(text: str, known_values: Sequence[str] = ()) -> list[Span]:
        return [(PRESIDIO_MAP.get(r.entity_type, f"OTHER:{r.entity_type}"), r.start, r.end)
                for r in analyzer.analyze(text, language="en")]

    return detect


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping predictions of one label become one (detectors often report nested spans)."""
    out: list[Span] = []
    for label, s, e in sorted(spans, key=lambda x: (x[0], x[1], -x[2])):
        if out and out[-1][0] == label and s <= out[-1][2]:
            out[-1] = (label, out[-1][1], max(e, out[-1][2]))
        else:
            out.append((label, s, e))
    return out


# The tagger's kinds (pii.add_tagger_spans: "tagger:<KIND>") against set 1's labels.
TAGGER_AS = {"tagger:NAME": ("NAME",), "tagger:PHONE": ("PHONE",), "tagger:EMAIL": ("EMAIL",),
             "tagger:ADDRESS": ("ADDRESS",), "tagger:HANDLE": ("MESSENGER",), "tagger:ID": ("RRN", "ACCOUNT", "CARD")}


def _as_gold(pred_label: str, gold_label: str) -> bool:
    return pred_label == gold_label or gold_label in TAGGER_AS.get(pred_label, ())


def score(rows: Sequence[dict], detect: Detector) -> dict:
    """{label: {tp, fp, fn, precision, recall}, "overall": {...}, "misses": [...], "false_positives": [...]}."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "found": 0, "gold": 0})
    misses, false_pos = [], []
    for row in rows:
        text, gold = row["text"], [(s["label"], s["start"], s["end"]) for s in row["spans"]]
        pred = _merge([p for p in detect(text, row.get("known_values") or []) if p[2] > p[1]])
        for label, s, e in gold:
            covered = set()
            for pl, ps, pe in pred:
                if _as_gold(pl, label):
                    covered |= set(range(max(s, ps), min(e, pe)))
            counts[label]["gold"] += 1
            if len(covered) >= 0.9 * (e - s):
                counts[label]["found"] += 1
            else:
                misses.append({"id": row["id"], "label": label, "span": text[s:e], "text": text})
        for pl, ps, pe in pred:
            label = pl if pl in LABELS or pl in TAGGER_AS else "OTHER"
            if any(_as_gold(pl, gl) and ps < ge and gs < pe for gl, gs, ge in gold):
                counts[label]["tp"] += 1
            else:
                counts[label]["fp"] += 1
                false_pos.append({"id": row["id"], "label": pl, "span": text[ps:pe], "text": text})
    out = {}
    for label in [*LABELS, *TAGGER_AS, "OTHER"]:
        c = counts[label]
        if not (c["gold"] or c["tp"] or c["fp"]):
            continue
        out[label] = _figures(c)
    total = {k: sum(counts[label][k] for label in counts) for k in ("tp", "fp", "found", "gold")}
    out["overall"] = _figures(total)
    return {"per_label": out, "misses": misses, "false_positives": false_pos}


def load_holdout(path: str | Path = HOLDOUT_SET) -> list[dict]:
    rows = []
    for lineno, row in iter_jsonl_lines(path):
        for item in row["pii"]:
            if item["kind"] not in HOLDOUT_KINDS or item["text"] not in row["text"]:
                raise ValueError(f"{path}:{lineno}: bad pii item {item}")
        rows.append(row)
    return rows


def _places(text: str, sub: str) -> list[tuple[int, int]]:
    out, i = [], text.find(sub)
    while sub and i >= 0:
        out.append((i, i + len(sub)))
        i = text.find(sub, i + 1)
    return out


def score_holdout(rows: Sequence[dict], detect: Detector, keep_values: Sequence[str] = CHARACTER_NAMES) -> dict:
    """{"per_kind": {kind: {gold, found, recall}}, "per_label": {predicted label: {predicted, correct,
    precision}}, "overall": {...}, "keep": {n, kept, rate}, "misses", "false_positives", "broken_keeps"}."""
    gold_n: dict[str, int] = defaultdict(int)
    found_n: dict[str, int] = defaultdict(int)
    pred_n: dict[str, int] = defaultdict(int)
    ok_n: dict[str, int] = defaultdict(int)
    keep_total = keep_ok = 0
    misses, false_pos, broken = [], [], []
    for row in rows:
        text = row["text"]
        pred = _merge([p for p in detect(text, row.get("known") or [], keep_values) if p[2] > p[1]])
        covered = set()
        for _, ps, pe in pred:
            covered |= set(range(ps, pe))
        gold_places = []
        for item in row["pii"]:
            places = _places(text, item["text"])
            gold_places += places
            gold_n[item["kind"]] += 1
            if all(sum(1 for i in range(s, e) if i in covered) >= 0.9 * (e - s) for s, e in places):
                found_n[item["kind"]] += 1
            else:
                misses.append({"id": row["id"], "kind": item["kind"], "span": item["text"], "text": text})
        for pl, ps, pe in pred:
            pred_n[pl] += 1
            if any(ps < ge and gs < pe for gs, ge in gold_places):
                ok_n[pl] += 1
            else:
                false_pos.append({"id": row["id"], "label": pl, "span": text[ps:pe], "text": text})
        redacted = _apply(text, pred)
        for k in row.get("keep") or []:
            keep_total += 1
            if k in redacted:
                keep_ok += 1
            else:
                broken.append({"id": row["id"], "keep": k, "text": text, "redacted": redacted})
    per_kind = {k: {"gold": gold_n[k], "found": found_n[k],
                    "recall": round(found_n[k] / gold_n[k], 4) if gold_n[k] else None} for k in HOLDOUT_KINDS}
    per_label = {k: {"predicted": pred_n[k], "correct": ok_n[k], "precision": round(ok_n[k] / pred_n[k], 4)}
                 for k in sorted(pred_n)}
    g, f, p, c = sum(gold_n.values()), sum(found_n.values()), sum(pred_n.values()), sum(ok_n.values())
    return {"n_lines": len(rows), "n_negative_lines": sum(1 for r in rows if not r["pii"]),
            "per_kind": per_kind, "per_label": per_label,
            "overall": {"gold": g, "found": f, "recall": round(f / g, 4) if g else None, "predicted": p,
                        "correct": c, "precision": round(c / p, 4) if p else None},
            "keep": {"n": keep_total, "kept": keep_ok, "rate": round(keep_ok / keep_total, 4) if keep_total else None},
            "misses": misses, "false_positives": false_pos, "broken_keeps": broken}


def _apply(text: str, spans: Sequence[Span]) -> str:
    parts, pos = [], 0
    for label, s, e in sorted(spans, key=lambda x: x[1]):
        if s < pos:
            s = pos
        if s < e:
            parts += [text[pos:s], f"<{label}>"]
            pos = e
    parts.append(text[pos:])
    return "".join(parts)


def ours_with_keep(text: str, known_values: Sequence[str] = (), keep_values: Sequence[str] = ()) -> list[Span]:
    """Ours as the clean stage calls it (the characters' names kept), plus the user's known values."""
    return redact(text, known_values, keep_values=keep_values).findings


def ko_pii_alone_holdout(text: str, known_values: Sequence[str] = (), keep_values: Sequence[str] = ()) -> list[Span]:
    return ko_pii_alone(text, known_values)


def holdout_table(results: dict[str, dict]) -> str:
    """Markdown: recall per kind, precision per predicted label, overall and keep-rate, per detector."""
    names = list(results)
    lines = ["| kind | " + " | ".join(f"{n} R" for n in names) + " |", "|" + "---|" * (1 + len(names))]
    for k in HOLDOUT_KINDS:
        lines.append(f"| {k} (n={results[names[0]]['per_kind'][k]['gold']}) | "
                     + " | ".join(_fmt(results[n]["per_kind"][k]["recall"]) for n in names) + " |")
    lines.append("| overall recall | " + " | ".join(_fmt(results[n]["overall"]["recall"]) for n in names) + " |")
    lines.append("| overall precision | " + " | ".join(_fmt(results[n]["overall"]["precision"]) for n in names) + " |")
    lines.append("| keep-rate | " + " | ".join(_fmt(results[n]["keep"]["rate"]) for n in names) + " |")
    for n in names:
        lines.append(f"\n{n} precision per predicted label: " + ", ".join(
            f"{k} {v['correct']}/{v['predicted']}" for k, v in results[n]["per_label"].items()))
    return "\n".join(lines)


def _figures(c: dict) -> dict:
    predicted = c["tp"] + c["fp"]
    return {"gold": c["gold"], "found": c["found"], "predicted": predicted, "correct": c["tp"],
            "recall": round(c["found"] / c["gold"], 4) if c["gold"] else None,
            "precision": round(c["tp"] / predicted, 4) if predicted else None}


def compare(rows: Sequence[dict], with_presidio: bool = True) -> dict:
    """Scores of ko-pii alone, Presidio (when it can run, else the reason) and ours on the same rows."""
    detectors: dict[str, Detector | str] = {"ko-pii alone": ko_pii_alone}
    if with_presidio:
        try:
            detectors["presidio default"] = presidio_default()
        except Exception as exc:  # noqa: BLE001 - any failure to start is reported, not hidden
            detectors["presidio default"] = f"not run: {type(exc).__name__}: {exc}"
    detectors["ours"] = ours
    out = {"n_lines": len(rows), "n_negative_lines": sum(1 for r in rows if not r["spans"])}
    for name, det in detectors.items():
        out[name] = det if isinstance(det, str) else score(rows, det)
    return out


def table(result: dict) -> str:
    """A markdown table: rows = labels, columns = precision/recall per detector."""
    names = [k for k, v in result.items() if isinstance(v, dict)]
    head = "| label | " + " | ".join(f"{n} P | {n} R" for n in names) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(names))]
    labels = [*LABELS, *TAGGER_AS, "OTHER", "overall"]
    for label in labels:
        cells = []
        for n in names:
            f = result[n]["per_label"].get(label)
            cells += ["-", "-"] if f is None else [_fmt(f["precision"]), _fmt(f["recall"])]
        if any(c != "-" for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--set", default=str(DEFAULT_SET))
    ap.add_argument("--presidio", action="store_true", help="also run Presidio (needs presidio-analyzer)")
    ap.add_argument("--out", help="write the full result (with misses and false positives) as JSON")
    ap.add_argument("--holdout", nargs="?", const=str(HOLDOUT_SET), help="score the held-out set instead")
    args = ap.parse_args(argv)
    if args.holdout:
        rows = load_holdout(args.holdout)
        result = {"ko-pii alone": score_holdout(rows, ko_pii_alone_holdout), "ours": score_holdout(rows, ours_with_keep)}
        print(holdout_table(result))
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        return 0
    result = compare(load_set(args.set), with_presidio=args.presidio)
    print(table(result))
    for name, r in result.items():
        if isinstance(r, str):
            print(f"{name}: {r}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
