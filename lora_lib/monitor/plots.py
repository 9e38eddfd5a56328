"""Monitor pictures: violation rate per version, and traffic/violations/latency over time windows."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from .metrics import GATES, KEYS


def plot_rates(metrics: pd.DataFrame) -> Figure:
    """Grouped bars: violation rate per gate for each (character, version, group), n in the labels."""
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    if metrics is None or len(metrics) == 0:
        ax.text(0.5, 0.5, "no traffic", ha="center", va="center", fontsize=14, transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    # Several windows per version would be several bars with one label: aggregate them, weighted by n.
    cols = [*(f"violation_rate_{g}" for g in GATES), "violation_rate_any"]
    m = metrics.copy()
    for c in cols:
        m[c] = m[c] * m["n"]
    m = m.groupby(list(KEYS), sort=True)[[*cols, "n"]].sum().reset_index()
    for c in cols:
        m[c] = m[c] / m["n"]
    labels = [f"{r.character_id}@{r.adapter_version}\n{r.group} (n={int(r.n)})" for r in m.itertuples()]
    width = 0.8 / len(cols)
    for i, c in enumerate(cols):
        xs = [j + (i - (len(cols) - 1) / 2) * width for j in range(len(m))]
        ax.bar(xs, m[c].fillna(0.0), width, label=c.removeprefix("violation_rate_"))
    ax.set_xticks(range(len(m)), labels, fontsize=8)
    ax.set_ylabel("violation rate")
    ax.set_ylim(0, 1)
    ax.set_title("Gate violation rate per adapter version")
    ax.legend(fontsize=8, ncols=len(cols))
    return fig


def plot_timeseries(windows: pd.DataFrame, rollbacks: list[dict] = ()) -> Figure:
    """Per version: requests, violation rate (any gate) and latency p95 over time windows; rollbacks as
    vertical lines. `windows` is version_metrics(..., window=...)."""
    fig = Figure(figsize=(9, 6.5), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    if windows is None or len(windows) == 0:
        axes[0].text(0.5, 0.5, "no traffic", ha="center", va="center", fontsize=14, transform=axes[0].transAxes)
        return fig
    w = windows.copy()
    w["window"] = pd.to_datetime(w["window"], utc=True)
    for (cid, version), part in w.groupby(["character_id", "adapter_version"], sort=True):
        part = part.groupby("window", sort=True).agg(n=("n", "sum"), v=("violations_any", "sum"),
                                                     p95=("latency_p95_ms", "max")).reset_index()
        label = f"{cid}@{version}"
        axes[0].plot(part["window"], part["n"], marker="o", label=label)
        axes[1].plot(part["window"], part["v"] / part["n"], marker="o", label=label)
        axes[2].plot(part["window"], part["p95"], marker="o", label=label)
    for rb in rollbacks or []:
        t = pd.Timestamp(rb["ts"])
        for ax in axes:
            ax.axvline(t, color="red", ls="--", lw=1)
        axes[1].annotate(f"rollback {rb.get('adapter_version')}", (t, 0.95), color="red", fontsize=8,
                         xycoords=("data", "axes fraction"))
    axes[0].set_ylabel("requests")
    axes[1].set_ylabel("violation rate (any)")
    axes[1].set_ylim(0, 1)
    axes[2].set_ylabel("latency p95 (ms)")
    axes[0].legend(fontsize=8)
    axes[0].set_title("Per-version traffic, violations and latency over time")
    return fig
