"""Tables, plots and files of an evaluation: replies side by side, the worst replies per failed gate,
the gates dashboard, and what the evaluate step writes and logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from ..config import Params
from ..store import write_json, write_jsonl
from .gates import GATES
from .persona import has_style_marker


def replies_table(prompts: list[list[dict]], replies: Mapping[str, list[str]], scores: Mapping[str, dict],
                  p: Params) -> list[dict]:
    """One row per prompt: the prompt, each model's reply, marker hit, failed gates and classifier verdict."""
    markers = p.character.style_markers
    rows = []
    for i, prompt in enumerate(prompts):
        row = {"prompt": prompt[-1]["content"]}
        for who, texts in replies.items():
            s = scores[who]
            row[who] = texts[i]
            row[f"{who}_marker"] = has_style_marker(texts[i], markers)
            row[f"{who}_failed"] = [g for g in GATES if s["reasons"][i][g]]
            if s["predicted"]:
                row[f"{who}_classified_as"] = s["predicted"][i]["character"]
        rows.append(row)
    return rows


def worst_replies(rows: Sequence[dict], reasons: Sequence[dict], who: str = "adapter", per_gate: int = 5
                  ) -> list[dict]:
    """Per failed gate, up to per_gate replies with the most reasons first (what to read in the notebook)."""
    out = []
    for g in GATES:
        hits = sorted((i for i, r in enumerate(reasons) if r[g]), key=lambda i: -len(reasons[i][g]))[:per_gate]
        out += [{"gate": g, "prompt": rows[i]["prompt"], "reply": rows[i][who], "why": "; ".join(reasons[i][g])}
                for i in hits]
    return out


def dashboard(report: Mapping) -> Figure:
    """Rates vs thresholds, adapter vs base vs previous approved adapter, with the decision in the title."""
    fig = Figure(figsize=(11, 3.8))
    ax = fig.subplots()
    gates = [g for g in report["gates"] if isinstance(g["value"], int | float) and not isinstance(g["value"], bool)]
    x = range(len(gates))
    series = [("base", "#999999"), ("adapter", "#4c72b0"), ("previous", "#dd8452")]
    width = 0.27
    for k, (who, color) in enumerate(series):
        vals = [g["value"] if who == "adapter" else g["compared"].get(who) for g in gates]
        ax.bar([i + (k - 1) * width for i in x], [v if v is not None else 0 for v in vals], width, label=who,
               color=color, alpha=1.0 if who == "adapter" else 0.8)
    for i, g in enumerate(gates):
        ax.hlines(g["threshold"], i - 1.5 * width, i + 1.5 * width, color="red", lw=1.5,
                  label="threshold" if i == 0 else None)
        if g["passed"] is False:
            ax.text(i, 1.02, "FAIL", ha="center", color="red", fontsize=8)
    # leakage is a ceiling (lower is better); every other rate is a floor
    ax.set_xticks(list(x), [g["gate"].split(":")[-1] + (" (max)" if g["gate"].endswith("leakage") else "")
                            for g in gates], rotation=20)
    ax.set_ylim(0, 1.1)
    ax.set_title(f"{report.get('adapter')}: {'APPROVE' if report['passed'] else 'REJECT'}")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def gates_table(report: Mapping) -> list[dict]:
    """The decision's gates as flat rows (W&B table, notebook)."""
    return [{"gate": g["gate"], "passed": g["passed"], "value": g["value"], "threshold": g["threshold"],
             "base": g["compared"].get("base"), "previous": g["compared"].get("previous"), "why": g["why"]}
            for g in report["gates"]]


def pass_rates(gate_scores: Mapping[str, dict]) -> dict[str, dict]:
    """{model: {gate: pass rate}} from the gates step (a table: gates by model)."""
    return {who: g["gate_pass_rate"] for who, g in gate_scores.items()}


def write_outputs(out_dir: str | Path, report: Mapping, rows: list[dict], scores: Mapping[str, dict],
                  adapter_dir: str | Path | None = None) -> dict[str, Path]:
    """replies.jsonl, worst_replies.jsonl and gate_report.json in out_dir (the gate report also in
    adapter_dir when given: it travels with the weights)."""
    out_dir = Path(out_dir)
    files = {"replies": out_dir / "replies.jsonl", "worst_replies": out_dir / "worst_replies.jsonl",
             "gate_report": out_dir / "gate_report.json"}
    write_jsonl(files["replies"], rows)
    write_jsonl(files["worst_replies"], worst_replies(rows, scores["adapter"]["reasons"]))
    write_json(files["gate_report"], report)
    if adapter_dir is not None:
        write_json(Path(adapter_dir) / "gate_report.json", report)
    return files


def track(tracker, report: Mapping, rows: Sequence[dict], scores: Mapping[str, dict]) -> None:
    """The evaluation's tables and headline figures in the experiment tracker."""
    tracker.table("eval/replies", [{k: ", ".join(v) if isinstance(v, list) else v for k, v in r.items()}
                                   for r in rows])
    tracker.table("eval/gates", [{**g, "value": str(g["value"])} for g in gates_table(report)])
    tracker.summary({"style_marker_rate/base": scores["base"]["style_marker_rate"],
                     "style_marker_rate/adapter": scores["adapter"]["style_marker_rate"],
                     "agreement/adapter": scores["adapter"]["persona"]["agreement"],
                     "leakage/adapter": scores["adapter"]["persona"]["leakage"], "gates/passed": report["passed"]})
