"""Persona metrics: does the reply sound like the character, and not like another one?

- style-marker hit rate: regexes of sentence endings/catchphrases from the character's params;
- character consistency: a char n-gram TF-IDF + logistic regression classifier (scikit-learn) trained
  on the clean assistant turns of every character; agreement = share of replies it gives this character;
- generation-level leakage: share of replies it gives another character (with at least leak_min_prob).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..store import read_jsonl

# The classifier's "no character" class, trained on user turns: a plain polite reply should land here,
# not on whichever character happens to be closest.
NEUTRAL = "_neutral"


def _compile_markers(markers: Sequence[str]) -> list[re.Pattern]:
    if not markers:
        raise ValueError("character.style_markers is empty: set at least one regex in params/characters/<id>.yaml")
    out = []
    for m in markers:
        try:
            out.append(re.compile(m))
        except re.error as exc:
            raise ValueError(f"character.style_markers: invalid regex {m!r}: {exc}") from None
    return out


def has_style_marker(reply: str, markers: Sequence[str]) -> bool:
    return any(rx.search(reply or "") for rx in _compile_markers(markers))


def style_marker_rate(replies: Sequence[str], markers: Sequence[str]) -> float:
    """Share of replies with at least one of the character's style markers (0.0 for no replies)."""
    _compile_markers(markers)
    return sum(has_style_marker(r, markers) for r in replies) / len(replies) if replies else 0.0


# ---- the classifier's training data --------------------------------------------------------------

def assistant_texts(conversations: Sequence[Mapping], sources: Sequence[str] | None = None) -> list[str]:
    """The assistant turns of clean conversation records (what the character says), optionally only of
    records whose dataset_source is in `sources`."""
    return [m["content"] for c in conversations if sources is None or c.get("dataset_source") in sources
            for m in c.get("messages", []) if m.get("role") == "assistant" and (m.get("content") or "").strip()]


def user_texts(conversations: Sequence[Mapping]) -> list[str]:
    """The user turns: plain Korean in nobody's character voice (the classifier's neutral class)."""
    return [m["content"] for c in conversations for m in c.get("messages", [])
            if m.get("role") == "user" and (m.get("content") or "").strip()]


def latest_clean_file(store: str | Path, character_id: str) -> Path | None:
    """The newest <store>/<character>/<run>/clean/conversations.jsonl, or None."""
    files = sorted(Path(store).glob(f"{character_id}/*/clean/conversations.jsonl"), key=lambda f: f.stat().st_mtime)
    return files[-1] if files else None


def classifier_corpus(store: str | Path, character_ids: Sequence[str], *, own: tuple[str, Path] | None = None,
                      fallback=None, dataset_sources: Sequence[str] | None = None
                      ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """({character: assistant texts}, {character: where they came from}).

    `own` = (character, clean file of this run) wins over the newest file in the store. A character
    without any clean file is produced by `fallback(character_id) -> conversations` when given
    (the evaluate stage cleans the raw exports in memory), else left out with its reason. `dataset_sources`
    limits the assistant turns to those dataset sources; the neutral class always takes every user turn.
    """
    texts, origin, users = {}, {}, []
    for cid in character_ids:
        path = own[1] if own and own[0] == cid and Path(own[1]).exists() else latest_clean_file(store, cid)
        if path is not None:
            convs, origin[cid] = read_jsonl(path), str(path)
        elif fallback is not None:
            convs, origin[cid] = fallback(cid), "cleaned in memory from the raw exports"
        else:
            origin[cid] = "left out: no clean data in the store"
            continue
        texts[cid] = assistant_texts(convs, dataset_sources)
        users += user_texts(convs)
    if users:
        texts[NEUTRAL] = users
        origin[NEUTRAL] = "user turns of the characters above"
    return texts, origin


# ---- the classifier ----------------------------------------------------------------------------

class CharacterClassifier:
    """Char n-gram TF-IDF + logistic regression over characters; deterministic for a seed."""

    def __init__(self, texts_by_character: Mapping[str, Sequence[str]], *, ngram_max: int = 4, seed: int = 0,
                 min_per_character: int = 5):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        usable = {c: list(t) for c, t in texts_by_character.items() if len(t) >= min_per_character}
        too_few = sorted(set(texts_by_character) - set(usable))
        if len(set(usable) - {NEUTRAL}) < 2:
            raise ValueError(f"character classifier needs clean data of >= 2 characters with >= {min_per_character} "
                             f"assistant turns each; usable: {sorted(usable)}, too few: {too_few}")
        self.skipped = too_few
        self.counts = {c: len(t) for c, t in usable.items()}
        x = [t for ts in usable.values() for t in ts]
        y = [c for c, ts in usable.items() for _ in ts]
        self.pipeline = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, ngram_max), sublinear_tf=True, min_df=1),
            LogisticRegression(max_iter=2000, C=10.0, random_state=seed))
        self.cv_accuracy = _cv_accuracy(self.pipeline, x, y, seed)
        self.pipeline.fit(x, y)
        self.classes = [str(c) for c in self.pipeline.classes_]

    def predict_proba(self, replies: Sequence[str]) -> list[dict[str, float]]:
        if not replies:
            return []
        probs = self.pipeline.predict_proba([r or "" for r in replies])
        return [{c: float(p) for c, p in zip(self.classes, row, strict=True)} for row in probs]


def _cv_accuracy(pipeline, x: list[str], y: list[str], seed: int) -> float | None:
    """Stratified 3-fold accuracy: how far the classifier's verdicts can be trusted (None if too little data)."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    if min(Counter(y).values()) < 3:
        return None
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    return float(cross_val_score(clone(pipeline), x, y, cv=folds).mean())


def persona_metrics(replies: Sequence[str], character_id: str, markers: Sequence[str],
                    classifier: CharacterClassifier | None, *, leak_min_prob: float = 0.5) -> dict:
    """Style-marker rate, classifier agreement, mean probability of this character, leakage (to another
    character; a reply classified as NEUTRAL is neither agreement nor leakage).

    Without a classifier (too little data) the classifier figures are None, never a made-up number.
    """
    out = {"n": len(replies), "style_marker_rate": style_marker_rate(replies, markers), "agreement": None,
           "own_probability": None, "leakage": None, "leaked_to": {}, "predicted": []}
    if classifier is None or not replies:
        return out
    if character_id not in classifier.classes:
        raise ValueError(f"character classifier has no class {character_id!r} (classes: {classifier.classes})")
    probs = classifier.predict_proba(replies)
    top = [max(p, key=p.get) for p in probs]
    leaked = [t for t, p in zip(top, probs, strict=True)
              if t not in (character_id, NEUTRAL) and p[t] >= leak_min_prob]
    out.update(agreement=sum(t == character_id for t in top) / len(top),
               own_probability=sum(p[character_id] for p in probs) / len(probs),
               leakage=len(leaked) / len(top), leaked_to=dict(Counter(leaked)),
               predicted=[{"character": t, "probability": round(p[t], 4), "own": round(p[character_id], 4)}
                          for t, p in zip(top, probs, strict=True)])
    return out


# ---- step 3 of evaluation: the classifier and every model's persona figures ------------------------

def build_classifier(p, character_ids: Sequence[str], neutral_replies: Sequence[str], *,
                     own_clean: str | Path | None = None, fallback=None) -> tuple[CharacterClassifier | None, dict]:
    """(classifier or None, its info for the report: sources, classes, counts, cv accuracy or the error).

    The corpus is classifier_corpus over `character_ids` (this run's clean file `own_clean` first, else
    the store's newest, else `fallback`). The base model's own voice is neutral too: without it, a polite
    base reply can look more like one character than like user turns, and "agreement above the base"
    would measure nothing. Its replies to *train* prompts (`neutral_replies`; never the eval prompts
    scored) join the neutral class."""
    corpus, sources = classifier_corpus(p.store, character_ids,
                                        own=None if own_clean is None else (p.character_id, Path(own_clean)),
                                        fallback=fallback, dataset_sources=p.evaluate.persona.classifier_sources)
    corpus[NEUTRAL] = corpus.get(NEUTRAL, []) + list(neutral_replies)
    sources[NEUTRAL] = (f"{sources.get(NEUTRAL, 'no user turns')} + base model replies to {len(neutral_replies)} "
                        "train prompts")
    classifier, info = None, {"sources": sources}
    try:
        classifier = CharacterClassifier(corpus, ngram_max=p.evaluate.persona.ngram_max, seed=p.seed,
                                         min_per_character=p.evaluate.persona.min_train_per_character)
        info.update(classes=classifier.classes, train_counts=classifier.counts,
                    cv_accuracy=classifier.cv_accuracy, skipped=classifier.skipped)
    except ValueError as exc:  # too little data: the persona gates say "not measured", never a made-up figure
        info["error"] = str(exc)
    return classifier, info


def persona_scores(replies: Sequence[str], p, classifier: CharacterClassifier | None = None) -> dict:
    """Style-marker rate, classifier figures and per-reply verdicts of one model's replies."""
    persona = persona_metrics(replies, p.character_id, p.character.style_markers, classifier,
                              leak_min_prob=p.evaluate.persona.leak_min_prob)
    return {"style_marker_rate": persona["style_marker_rate"],
            "persona": {k: persona[k] for k in ("agreement", "own_probability", "leakage", "leaked_to")},
            "predicted": persona["predicted"]}


def score_persona(replies: Mapping[str, Sequence[str]], p, classifier: CharacterClassifier | None = None
                  ) -> dict[str, dict]:
    """{model: persona_scores} for {model: replies}."""
    return {who: persona_scores(texts, p, classifier) for who, texts in replies.items()}
