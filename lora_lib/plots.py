"""Figures the notebooks show: reason counts, loss curves, base-vs-adapter dashboards."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure


def bar_counts(counts: Mapping[str, int], title: str, xlabel: str = "count") -> Figure:
    fig = Figure(figsize=(7, 0.4 * max(len(counts), 2) + 1))
    ax = fig.subplots()
    items = sorted(counts.items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in items], [v for _, v in items], color="#4c72b0")
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v}", va="center")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def loss_curve(losses: Sequence[Mapping], title: str = "training loss") -> Figure:
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    ax.plot([r["step"] for r in losses], [r["loss"] for r in losses], marker=".")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def gate_dashboard(report: Mapping) -> Figure:
    """Style-marker rate and per-gate pass rates, base vs adapter, with the thresholds."""
    fig = Figure(figsize=(9, 3.5))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 3]})
    smr = report["style_marker_rate"]
    ax1.bar(["base", "adapter"], [smr["base"], smr["adapter"]], color=["#999999", "#4c72b0"])
    ax1.axhline(report["thresholds"]["min_style_marker_rate"], color="red", ls="--", lw=1)
    ax1.set_ylim(0, 1.05)
    ax1.set_title("style-marker rate")
    gates = list(report["gate_pass_rate"]["adapter"])
    x = range(len(gates))
    ax2.bar([i - 0.2 for i in x], [report["gate_pass_rate"]["base"][g] for g in gates], 0.4, label="base",
            color="#999999")
    ax2.bar([i + 0.2 for i in x], [report["gate_pass_rate"]["adapter"][g] for g in gates], 0.4, label="adapter",
            color="#4c72b0")
    ax2.axhline(report["thresholds"]["min_gate_pass_rate"], color="red", ls="--", lw=1, label="threshold")
    ax2.set_xticks(list(x), gates)
    ax2.set_ylim(0, 1.05)
    ax2.set_title(f"gate pass rate ({'PASS' if report['passed'] else 'FAIL'})")
    ax2.legend(loc="lower right")
    fig.tight_layout()
    return fig
