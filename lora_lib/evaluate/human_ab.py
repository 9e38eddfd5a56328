"""Blinded human A/B: candidate adapter vs baseline on 20-50 prompts.

Files (in one folder, e.g. <run>/evaluate/ab/):
- sheet.csv / sheet.html: what raters see: item_id, prompt, left, right (no model names);
- mapping.json: which side is the candidate, per item; keep it away from raters;
- ratings.csv: item_id, rater, choice (left | right | tie | both_bad), from the notebook's rater;
- returned/*.csv: copies of sheet.csv that reviewers filled in (the `choice` column), one file per reviewer.

`ab_result` unblinds: wins/ties/losses/both_bad for the candidate, win rate over decisive ratings with
a Wilson 95% interval, a two-sided sign-test p-value, and whether the params' rule holds.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import random
from collections.abc import Sequence
from pathlib import Path

from ..store import atomic_write_text, read_json, sha256_json, write_json

CHOICES = ("left", "right", "tie", "both_bad")
# keyboard shortcuts of the rater (one key + Enter)
KEYS = {"a": "left", "l": "left", "d": "right", "r": "right", "s": "tie", "t": "tie", "x": "both_bad",
        "b": "both_bad"}
SIMULATED_BANNER = "SIMULATED ratings, not from people: they only exercise the statistics"


def build_ab_set(prompts: Sequence[str], candidate: Sequence[str], baseline: Sequence[str], *, n: int,
                 seed: int = 0, candidate_name: str = "candidate", baseline_name: str = "baseline"
                 ) -> tuple[list[dict], dict]:
    """(items for raters, mapping). n prompts chosen by seed; each item's sides in random order."""
    if not len(prompts) == len(candidate) == len(baseline):
        raise ValueError(f"prompts/candidate/baseline differ in length: {len(prompts)}/{len(candidate)}/"
                         f"{len(baseline)}")
    if not prompts:
        raise ValueError("no prompts for the A/B set")
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(prompts)), min(n, len(prompts))))
    items, sides = [], {}
    for k, i in enumerate(chosen, 1):
        item_id = f"ab{k:03d}"
        cand_left = rng.random() < 0.5
        left, right = (candidate[i], baseline[i]) if cand_left else (baseline[i], candidate[i])
        items.append({"item_id": item_id, "prompt": prompts[i], "left": left, "right": right})
        sides[item_id] = "left" if cand_left else "right"
    mapping = {"candidate": candidate_name, "baseline": baseline_name, "seed": seed, "candidate_side": sides,
               "items_sha256": sha256_json([items, sides])}
    return items, mapping


def retire_stale_ratings(folder: str | Path, mapping: dict) -> list[Path]:
    """If folder holds ratings of a different A/B set (other replies or sides), rename ratings.csv and
    returned/ to *.stale-<old hash> so they are never unblinded with the wrong mapping; returns new paths."""
    folder = Path(folder)
    old = folder / "mapping.json"
    found = [f for f in (folder / "ratings.csv", folder / "returned") if f.exists()]
    if not found or not old.exists():
        return []
    previous = read_json(old).get("items_sha256")
    if previous == mapping["items_sha256"]:
        return []
    moved = []
    for f in found:
        target = f.with_name(f"{f.stem}.stale-{(previous or 'unknown')[:12]}{f.suffix}")
        f.replace(target)
        moved.append(target)
    return moved


def prompt_text(messages: Sequence[dict], turns: int = 3) -> str:
    """What a rater needs to judge a reply: the last few turns before it, one per line."""
    shown = [m for m in messages if m.get("role") in ("user", "assistant")][-turns:]
    return "\n".join(f"{m['role']}: {m.get('content', '')}" for m in shown)


def collect_ratings(folder: str | Path) -> tuple[list[dict], list[str]]:
    """Every real rating in an A/B folder: ratings.csv (the notebook's rater) plus returned/*.csv (sheets
    filled in by reviewers; the file name is the rater when there is no rater column). SIMULATED and
    stale files are never read. Returns (ratings, files read)."""
    folder = Path(folder)
    files = [f for f in [folder / "ratings.csv", *sorted((folder / "returned").glob("*.csv"))] if f.exists()]
    out = []
    for f in files:
        for r in read_ratings(f):
            out.append({**r, "rater": f.stem if r["rater"] == "anonymous" and f.name != "ratings.csv" else r["rater"]})
    return out, [str(f) for f in files]


def write_ab_set(folder: str | Path, items: list[dict], mapping: dict) -> dict[str, Path]:
    """sheet.csv, sheet.html (blind) and mapping.json (separate file), atomically."""
    folder = Path(folder)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["item_id", "prompt", "left", "right", "choice"])
    w.writeheader()
    for it in items:
        w.writerow({**it, "choice": ""})
    paths = {"csv": folder / "sheet.csv", "html": folder / "sheet.html", "mapping": folder / "mapping.json"}
    atomic_write_text(paths["csv"], buf.getvalue())
    atomic_write_text(paths["html"], sheet_html(items))
    write_json(paths["mapping"], mapping)
    return paths


def sheet_html(items: list[dict]) -> str:
    """A printable/shareable sheet: prompt, the two replies side by side, a choice column to fill in."""
    rows = "".join(
        f"<tr><td>{html.escape(it['item_id'])}</td><td>{html.escape(it['prompt'])}</td>"
        f"<td>{html.escape(it['left'])}</td><td>{html.escape(it['right'])}</td><td></td></tr>" for it in items)
    return ("<!doctype html><meta charset='utf-8'><title>A/B sheet</title><style>body{font-family:sans-serif}"
            "td,th{border:1px solid #ccc;padding:4px;vertical-align:top}</style>"
            "<p>Which reply sounds more like the character? Write left, right, tie or both_bad in the last "
            "column (or fill the <code>choice</code> column of sheet.csv).</p>"
            f"<table><tr><th>item</th><th>prompt</th><th>left</th><th>right</th><th>choice</th></tr>{rows}</table>")


def read_ratings(path: str | Path) -> list[dict]:
    """Ratings from ratings.csv or a filled-in sheet.csv; rows with an empty choice are not ratings yet.

    A bad row is a ValueError naming file, line and field.
    """
    path = Path(path)
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    reader = csv.DictReader(lines)
    if not reader.fieldnames or "item_id" not in reader.fieldnames or "choice" not in reader.fieldnames:
        raise ValueError(f"{path}: needs columns item_id and choice (got {reader.fieldnames})")
    for lineno, row in enumerate(reader, 2):
        choice = (row.get("choice") or "").strip().lower().replace(" ", "_")
        if not choice:
            continue
        choice = KEYS.get(choice, choice)
        if choice not in CHOICES:
            raise ValueError(f"{path}:{lineno}: field choice: {row.get('choice')!r} is not one of {CHOICES}")
        if not (row.get("item_id") or "").strip():
            raise ValueError(f"{path}:{lineno}: field item_id: empty")
        out.append({"item_id": row["item_id"].strip(), "rater": (row.get("rater") or "").strip() or "anonymous",
                    "choice": choice})
    return out


def write_ratings(path: str | Path, ratings: list[dict], *, banner: str | None = None) -> None:
    buf = io.StringIO()
    if banner:
        buf.write(f"# {banner}\n")
    w = csv.DictWriter(buf, fieldnames=["item_id", "rater", "choice"], extrasaction="ignore")
    w.writeheader()
    w.writerows(ratings)
    atomic_write_text(path, buf.getvalue())


def wilson_interval(wins: int, n: int, z: float = 1.959964) -> tuple[float, float] | None:
    """Wilson score 95% interval of a proportion; None for n == 0."""
    if n == 0:
        return None
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_test_p(wins: int, losses: int) -> float | None:
    """Two-sided exact sign test (binomial, p=0.5) over decisive ratings; None without any."""
    n = wins + losses
    if n == 0:
        return None
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def ab_result(ratings: Sequence[dict], mapping: dict, *, min_ratings: int = 20, rule: str = "wilson_lower",
              min_win_rate: float = 0.5, max_sign_p: float | None = None) -> dict:
    """Unblind and summarize. Ties and both_bad are reported but not decisive; a rating of an item the
    mapping does not know is a ValueError."""
    sides = mapping["candidate_side"]
    counts = {"wins": 0, "losses": 0, "ties": 0, "both_bad": 0}
    for r in ratings:
        if r["item_id"] not in sides:
            raise ValueError(f"rating for unknown item {r['item_id']!r} (not in mapping.json)")
        c = r["choice"]
        if c in ("left", "right"):
            counts["wins" if c == sides[r["item_id"]] else "losses"] += 1
        else:
            counts["ties" if c == "tie" else "both_bad"] += 1
    decisive = counts["wins"] + counts["losses"]
    rate = counts["wins"] / decisive if decisive else None
    ci = wilson_interval(counts["wins"], decisive)
    if len(ratings) < min_ratings:
        passed, why = False, f"only {len(ratings)} ratings (< {min_ratings})"
    elif rate is None:
        passed, why = False, "no decisive ratings (all ties/both bad)"
    elif rule == "wilson_lower":
        passed = ci[0] > min_win_rate
        why = f"Wilson 95% lower bound {ci[0]:.3f} {'>' if passed else '<='} {min_win_rate}"
    else:
        passed = rate >= min_win_rate
        why = f"win rate {rate:.3f} {'>=' if passed else '<'} {min_win_rate}"
    p_value = sign_test_p(counts["wins"], counts["losses"])
    if max_sign_p is not None and rate is not None and len(ratings) >= min_ratings:
        ok = p_value <= max_sign_p and counts["wins"] > counts["losses"]
        passed = passed and ok
        why += f"; sign test p {p_value:.3f} {'<=' if ok else '>'} {max_sign_p}" + ("" if ok or p_value > max_sign_p
                                                                                   else " but more losses")
    return {"n_ratings": len(ratings), "raters": sorted({r.get("rater", "anonymous") for r in ratings}), **counts,
            "decisive": decisive, "win_rate": rate, "wilson_95": list(ci) if ci else None,
            "sign_test_p": p_value, "rule": rule,
            "passed": passed, "why": why, "candidate": mapping.get("candidate"), "baseline": mapping.get("baseline")}


def ab_round(folder: str | Path, prompts: Sequence[Sequence[dict]], replies: dict[str, list[str]],
             models: dict[str, str | None], p) -> dict:
    """Step 4 of evaluation: the blinded A/B of the candidate ("adapter") vs the approved adapter it would
    replace ("previous"), else the base. Writes the set to `folder`, sets aside ratings of another set,
    and unblinds the real ratings found there (the SIMULATED file never counts).

    Returns {"result": the ab_result with its files, or None without ratings, "report": what the gate
    report shows, "items", "mapping", "stale"}."""
    h, folder = p.evaluate.human_ab, Path(folder)
    baseline = "previous" if "previous" in replies else "base"
    items, mapping = build_ab_set([prompt_text(pr) for pr in prompts], replies["adapter"], replies[baseline],
                                  n=h.n_prompts, seed=h.seed, candidate_name=models["adapter"],
                                  baseline_name=models[baseline] or "base")
    stale = retire_stale_ratings(folder, mapping)  # ratings of other replies must not be unblinded here
    write_ab_set(folder, items, mapping)
    result = None
    ratings, rating_files = collect_ratings(folder)
    if ratings:
        result = {**ab_result(ratings, mapping, min_ratings=h.min_ratings, rule=h.rule,
                              min_win_rate=h.min_win_rate, max_sign_p=h.max_sign_p), "files": rating_files}
    report = {**(result or {"status": "pending", "sheet": str(folder / "sheet.csv"), "n_items": len(items),
                            "baseline": mapping["baseline"]}),
              **({"stale_ratings": [str(f) for f in stale]} if stale else {})}
    return {"result": result, "report": report, "items": items, "mapping": mapping, "stale": stale}


def simulate_ratings(mapping: dict, *, p_candidate: float = 0.7, p_tie: float = 0.1, p_both_bad: float = 0.05,
                     raters: int = 1, seed: int = 0) -> list[dict]:
    """SIMULATED ratings (rater names say so): each item prefers the candidate with p_candidate among
    decisive ratings. Only for exercising the statistics and the notebook; never evidence."""
    rng = random.Random(seed)
    out = []
    for k in range(raters):
        for item_id, side in sorted(mapping["candidate_side"].items()):
            u = rng.random()
            if u < p_tie:
                choice = "tie"
            elif u < p_tie + p_both_bad:
                choice = "both_bad"
            else:
                other = "right" if side == "left" else "left"
                choice = side if rng.random() < p_candidate else other
            out.append({"item_id": item_id, "rater": f"SIMULATED-{k + 1}", "choice": choice})
    return out


def rater(items: list[dict], ratings_path: str | Path, *, rater_name: str = "reviewer"):
    """An ipywidgets rater: shows one item at a time; buttons, or one key + Enter in the box
    (a/l = left, d/r = right, s/t = tie, x/b = both bad). Every rating is saved to ratings_path at once,
    so closing the notebook loses nothing; items already rated there are skipped."""
    import ipywidgets as w

    ratings_path = Path(ratings_path)
    done = read_ratings(ratings_path) if ratings_path.exists() else []
    rated = {r["item_id"] for r in done if r["rater"] == rater_name}
    queue = [it for it in items if it["item_id"] not in rated]
    state = {"i": 0}
    header, left, right = w.HTML(), w.HTML(layout=w.Layout(width="48%")), w.HTML(layout=w.Layout(width="48%"))
    status = w.HTML()
    buttons = [w.Button(description=f"{label} [{key}]") for label, key in
               (("left", "a"), ("right", "d"), ("tie", "s"), ("both bad", "x"))]
    box = w.Text(placeholder="key + Enter: a / d / s / x", continuous_update=False)

    def show():
        if state["i"] >= len(queue):
            header.value = f"<b>done</b>: {len(done)} ratings in {html.escape(str(ratings_path))}"
            left.value = right.value = ""
            return
        it = queue[state["i"]]
        header.value = (f"<b>{state['i'] + 1}/{len(queue)}</b> &middot; {html.escape(it['item_id'])}<br>"
                        f"<b>user:</b> {html.escape(it['prompt'])}")
        left.value = f"<b>left</b><br>{html.escape(it['left'])}"
        right.value = f"<b>right</b><br>{html.escape(it['right'])}"

    def record(choice: str):
        if state["i"] >= len(queue):
            return
        done.append({"item_id": queue[state["i"]]["item_id"], "rater": rater_name, "choice": choice})
        write_ratings(ratings_path, done)
        state["i"] += 1
        status.value = f"saved {len(done)} ratings"
        show()

    for b, choice in zip(buttons, CHOICES, strict=True):
        b.on_click(lambda _b, c=choice: record(c))

    def on_submit(change):
        key = (change["new"] or "").strip().lower()
        box.value = ""
        if key in KEYS:
            record(KEYS[key])
        elif key:
            status.value = f"unknown key {html.escape(key)!r}: use a, d, s or x"

    box.observe(on_submit, names="value")
    show()
    return w.VBox([header, w.HBox([left, right]), w.HBox(buttons), box, status])


def load_mapping(folder: str | Path) -> dict:
    return read_json(Path(folder) / "mapping.json")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m lora_lib.evaluate.human_ab simulate AB_FOLDER [--p-candidate 0.7] [--raters 2]`:
    write AB_FOLDER/ratings.SIMULATED.csv (clearly labelled) and print the unblinded result."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("simulate")
    s.add_argument("folder")
    s.add_argument("--p-candidate", type=float, default=0.7)
    s.add_argument("--raters", type=int, default=1)
    s.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("result")
    r.add_argument("folder")
    r.add_argument("ratings")
    args = ap.parse_args(argv)
    mapping = load_mapping(args.folder)
    if args.cmd == "simulate":
        out = Path(args.folder) / "ratings.SIMULATED.csv"
        ratings = simulate_ratings(mapping, p_candidate=args.p_candidate, raters=args.raters, seed=args.seed)
        write_ratings(out, ratings, banner=SIMULATED_BANNER)
        print(f"wrote {out} ({SIMULATED_BANNER})")
    else:
        ratings = read_ratings(args.ratings)
    print(json.dumps(ab_result(ratings, mapping), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
