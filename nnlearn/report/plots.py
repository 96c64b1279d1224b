"""PNG plots for the run folder, with the optional `plots` extra (matplotlib); torch-free.

loss.png: training and validation curves; grad_norms.png: per-layer gradient norms through
depth at a few steps; update_ratios.png: per-layer update/weight ratios over time. A plot whose
metrics were not measured is not made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plots(m, out_dir: Path) -> dict[str, str]:
    """Plot name -> path of each PNG written; {} without matplotlib."""
    if not available():
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, draw in (
        ("loss", _loss),
        ("grad_norms", _grad_norms),
        ("update_ratios", _update_ratios),
    ):
        fig = None
        try:
            fig = draw(m, plt)
            if fig is None:
                continue
            path = out_dir / f"{name}.png"
            fig.savefig(path, dpi=90, bbox_inches="tight")
            made[name] = str(path)
        except ValueError:  # degenerate data (all NaN, one point): no picture, not a crash
            continue
        finally:
            if fig is not None:
                plt.close(fig)
    return made


def _per_layer(m, word: str) -> tuple[str, object] | None:
    """The first per-layer main-run metric whose name contains `word` (and its table)."""
    df = m.metrics
    names = df[(df["run"] == "main") & (df["layer"] != "")]["name"].drop_duplicates().tolist()
    names.sort(key=lambda n: (word == "grad" and "norm" not in n, n))
    for n in names:
        if word in n:
            table = m.layers(n)
            values = table.to_numpy(float)
            # a log axis needs at least one finite positive value (a NaN run has none)
            if values.size and (np.isfinite(values) & (values > 0)).any():
                return n, table
    return None


def _loss(m, plt):
    loss = m.series("train_loss")
    loss = loss[np.isfinite(loss.to_numpy(float))]
    if not len(loss):
        return None
    accs = [n for n in ("val_acc", "train_eval_acc") if len(m.series(n))]
    fig, axes = plt.subplots(1, 2 if accs else 1, figsize=(9 if accs else 5, 3.2))
    ax = axes[0] if accs else axes
    ax.plot(loss.index, loss.to_numpy(), alpha=0.3, lw=0.8, label="train (per step)")
    # a rolling median: one exploding batch must not hide the rest of the curve
    smooth = loss.rolling(max(5, len(loss) // 40), min_periods=1, center=True).median()
    ax.plot(smooth.index, smooth.to_numpy(), lw=1.5, label="train (smoothed)")
    for n in ("val_loss", "train_eval_loss"):
        s = m.series(n)
        if len(s):
            ax.plot(s.index, s.to_numpy(), marker="o", ms=3, label=n.replace("_", " "))
    if (loss > 0).all():
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="loss", title="loss")
    ax.legend(fontsize=7)
    if accs:
        for n in accs:
            s = m.series(n)
            axes[1].plot(s.index, s.to_numpy(), marker="o", ms=3, label=n.replace("_", " "))
        axes[1].set(xlabel="step", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
        axes[1].legend(fontsize=7)
    return fig


def _grad_norms(m, plt):
    found = _per_layer(m, "grad")
    if found is None:
        return None
    name, table = found
    steps = table.index.tolist()
    pick = sorted({steps[round(i * (len(steps) - 1) / 3)] for i in range(4)})
    fig, ax = plt.subplots(figsize=(6, 3.2))
    x = np.arange(len(table.columns))
    for step in pick:
        values = table.loc[step].to_numpy(float)
        ax.plot(x, np.where(values > 0, values, np.nan), marker="o", ms=3, label=f"step {step}")
    ax.set_xticks(x, table.columns, rotation=45, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set(xlabel="layer (input → output)", ylabel=name, title="gradient norm through depth")
    ax.legend(fontsize=7)
    return fig


def _update_ratios(m, plt):
    found = _per_layer(m, "update")
    if found is None:
        return None
    name, table = found
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for layer in table.columns:
        s = table[layer].dropna()
        s = s[s > 0]
        if len(s):
            ax.plot(s.index, s.to_numpy(), lw=1, label=layer)
    ax.axhline(1e-3, color="grey", ls="--", lw=0.8, label="1e-3")
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel=name, title="update / weight ratio")
    ax.legend(fontsize=6, ncol=2)
    return fig
