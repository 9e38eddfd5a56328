"""Cross-character leakage: a line filed under one character that reads like another.

Two signals: the other character's name used as a self-reference or speaker tag ("나는 보리",
"김선비: ..."), and the other character's style markers dominating while this character's are absent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from .quality import sentences


@lru_cache(maxsize=64)
def _marker_res(markers: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(m) for m in markers)


def marker_rate(text: str, markers: Sequence[str]) -> float:
    """Share of sentences ending with one of the style markers (regexes)."""
    sents = sentences(text)
    if not sents:
        return 0.0
    res = _marker_res(tuple(markers))
    return sum(1 for s in sents if any(r.search(s) for r in res)) / len(sents)


@lru_cache(maxsize=64)
def _self_named(name: str) -> re.Pattern:
    n = re.escape(name)
    return re.compile(rf"(?:^|[\s\"'(])(?:나는|난|저는|전|소생은|이 몸은|내 이름은|제 이름은)\s*{n}(?![가-힣])|"
                      rf"^\s*{n}\s*[:：]", re.MULTILINE)


def leakage_reason(text: str, own_markers: Sequence[str], others: Mapping[str, Sequence[str]],
                   other_names: Mapping[str, str] | None = None) -> str | None:
    """'leakage:<other>' when the line names itself as another character, or another character's
    markers dominate and this one's are absent; else None."""
    for cid, name in (other_names or {}).items():
        if name and _self_named(name).search(text):
            return f"leakage:{cid}"
    if marker_rate(text, own_markers) > 0:
        return None
    rates = {cid: marker_rate(text, markers) for cid, markers in others.items()}
    best = max(rates, key=rates.get, default=None)
    if best is not None and rates[best] >= 0.5:
        return f"leakage:{best}"
    return None


def character_profiles(params_dir: str | Path = "params") -> dict[str, dict]:
    """character id -> {"name", "style_markers"} for every configured character."""
    import yaml

    from ..config import known_characters

    out = {}
    for cid in known_characters(params_dir):
        data = yaml.safe_load((Path(params_dir) / "characters" / f"{cid}.yaml").read_text(encoding="utf-8")) or {}
        ch = data.get("character") or {}
        out[cid] = {"name": ch.get("name"), "style_markers": list(ch.get("style_markers") or [])}
    return out


class StyleClassifier:
    """Which character a line sounds like: character n-gram TF-IDF + logistic regression, trained on
    trusted lines (author-written gold dialogues and card examples) of every character.

    Optional (clean.leakage_classifier): it catches another character's voice when that voice has
    no configured style marker; markers and names stay the first, explainable check.
    """

    def __init__(self, lines_by_character: Mapping[str, Sequence[str]], seed: int = 0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        texts = [t for lines in lines_by_character.values() for t in lines]
        labels = [cid for cid, lines in lines_by_character.items() for _ in lines]
        if len(set(labels)) < 2:
            raise ValueError("the style classifier needs trusted lines of at least two characters")
        self.model = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True),
                                   LogisticRegression(max_iter=1000, C=20, random_state=seed))
        self.model.fit(texts, labels)
        self.classes = [str(c) for c in self.model.classes_]

    def probabilities(self, text: str) -> dict[str, float]:
        return dict(zip(self.classes, self.model.predict_proba([text])[0].tolist(), strict=True))


def classifier_reason(text: str, own_id: str, clf: StyleClassifier, min_prob: float) -> str | None:
    """'leakage:<other>' when the classifier gives another character at least min_prob."""
    probs = clf.probabilities(text)
    other = max((c for c in probs if c != own_id), key=probs.get, default=None)
    if other is not None and probs[other] >= min_prob:
        return f"leakage:{other}"
    return None


def trusted_lines(conversations: Sequence[dict]) -> dict[str, list[str]]:
    """Assistant lines of gold and card conversations, by character (the classifier's training data)."""
    out: dict[str, list[str]] = {}
    for conv in conversations:
        if conv.get("dataset_source") in ("gold", "character_card"):
            out.setdefault(conv["character_id"], []).extend(
                m["content"] for m in conv["messages"] if m["role"] == "assistant")
    return out
