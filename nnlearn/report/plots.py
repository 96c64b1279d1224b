"""PNG plots for the run folder, with the optional `plots` extra (matplotlib); torch-free.

loss.png: training loss per step with its smoothed line, validation on top (markers);
grad_norm.png: the every-step global gradient norm, the steps the per-layer instruments
sampled (triggered ones apart), and the region a gradient finding pointed at;
grad_norms.png: per-layer gradient norms through depth at a few sampled steps;
update_ratios.png: per-layer update/weight ratios over the sampled steps;
activations.png: dead and saturated fractions per layer over the sampled steps.
Exact zeros (a dead layer's gradient, an update that moved nothing) are drawn at the floor of
the log axis with a hollow down-triangle, never dropped. A plot whose metrics were not
measured is not made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# what the axes say: words, not metric names
LABELS = {
    "train_loss": "training loss",
    "val_loss": "validation loss",
    "train_eval_loss": "training loss (evaluation pass)",
    "val_acc": "validation accuracy",
    "train_eval_acc": "training accuracy",
    "grad_norm": "gradient norm (all parameters)",
    "layer_grad_norm": "gradient norm",
    "update_ratio": "update / weight norm",
    "dead_frac": "dead units (share)",
    "saturated_frac": "saturated units (share)",
}
ZERO_MARKER = {"marker": "v", "mfc": "none", "ms": 6, "ls": "none"}


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plots(m, out_dir: Path, findings=None) -> dict[str, str]:
    """Plot name -> path of each PNG written; {} without matplotlib. `findings` (the
    diagnosis) lets the gradient-norm plot mark the steps a rule pointed at."""
    if not available():
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, draw in (
        ("loss", _loss),
        ("grad_norm", lambda m, plt: _grad_norm_over_time(m, plt, findings or [])),
        ("grad_norms", _grad_norms),
        ("update_ratios", _update_ratios),
        ("activations", _activations),
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


def log_floor(values: np.ndarray) -> float | None:
    """Where exact zeros go on a log axis: a decade below the smallest positive value; None
    when nothing is positive and finite (then there is no log axis to draw)."""
    positive = values[np.isfinite(values) & (values > 0)]
    return float(positive.min()) / 10 if positive.size else None


def _log_line(ax, x, y, floor: float, zero_label: list, **style) -> None:
    """A line on a log axis with its zeros at `floor` (hollow triangles of the same colour)."""
    x, y = np.asarray(x), np.asarray(y, float)
    (line,) = ax.plot(x, np.where(y > 0, y, np.nan), **style)
    zeros = y == 0
    if zeros.any():
        label = None if zero_label else "exactly 0 (drawn at the floor)"
        zero_label.append(True)
        ax.plot(
            x[zeros],
            np.full(zeros.sum(), floor),
            color=line.get_color(),
            label=label,
            **ZERO_MARKER,
        )


def layer_style(i: int) -> dict:
    """Layers whose curves coincide stay visible: each its own line style, marker and size,
    drawn half-transparent, the earlier layers on top and wider."""
    return {
        "ls": ("-", "--", ":", "-.")[i % 4],
        "marker": ("o", "s", "^", "D", "x", "+")[i % 6],
        "ms": max(2.5, 5 - 0.5 * i),
        "lw": max(0.8, 2.2 - 0.4 * i),
        "alpha": 0.75,
        "zorder": 10 - i,
    }


def _per_layer(m, name: str):
    table = m.layers(name)
    if table.empty:
        return None
    values = table.to_numpy(float)
    return table if np.isfinite(values).any() else None


def _loss(m, plt):
    loss = m.series("train_loss")
    loss = loss[np.isfinite(loss.to_numpy(float))]
    if not len(loss):
        return None
    accs = [n for n in ("val_acc", "train_eval_acc") if len(m.series(n))]
    fig, axes = plt.subplots(1, 2 if accs else 1, figsize=(9 if accs else 5, 3.2))
    ax = axes[0] if accs else axes
    ax.plot(
        loss.index,
        loss.to_numpy(),
        color="C0",
        alpha=0.25,
        lw=0.8,
        zorder=1,
        label="training loss (per step)",
    )
    # a rolling median: one exploding batch must not hide the rest of the curve
    smooth = loss.rolling(max(5, len(loss) // 40), min_periods=1, center=True).median()
    ax.plot(
        smooth.index,
        smooth.to_numpy(),
        color="C0",
        lw=1.5,
        zorder=2,
        label="training loss (smoothed)",
    )
    # evaluations on top of the training lines, each its own colour, style and marker
    for n, color, marker, ls in (
        ("train_eval_loss", "C2", "s", "--"),
        ("val_loss", "C1", "o", "-"),
    ):
        s = m.series(n)
        s = s[np.isfinite(s.to_numpy(float))]
        if len(s):
            ax.plot(
                s.index,
                s.to_numpy(),
                color=color,
                marker=marker,
                ms=3.5,
                ls=ls,
                lw=1.2,
                zorder=3,
                label=LABELS[n],
            )
    if (loss > 0).all():
        ax.set_yscale("log")
    ax.set(xlabel="optimizer step", ylabel="loss", title="loss")
    ax.legend(fontsize=7)
    if accs:
        for n, color, marker, ls in (
            ("train_eval_acc", "C2", "s", "--"),
            ("val_acc", "C1", "o", "-"),
        ):
            s = m.series(n)
            if len(s):
                axes[1].plot(
                    s.index,
                    s.to_numpy(),
                    color=color,
                    marker=marker,
                    ms=3.5,
                    ls=ls,
                    label=LABELS[n],
                )
        axes[1].set(xlabel="optimizer step", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
        axes[1].legend(fontsize=7)
    return fig


def spike_regions(findings) -> list[tuple[int, int, str]]:
    """(first step, last step, rule) of the gradient findings that point at steps: `bursts`
    (a list of {step, last_step}), a range (`first_step`/`last_step`, `start_step`/`end_step`,
    `steps: [a, b]`) or one `step`."""
    regions = []
    for f in findings:
        get = f.get if isinstance(f, dict) else lambda k, f=f: getattr(f, k, None)
        cause = get("cause")
        cause = getattr(cause, "value", cause)
        evidence = get("evidence") or {}
        if cause != "exploding_gradients" or not isinstance(evidence, dict):
            continue
        bursts = evidence.get("bursts")  # G403: one region per burst
        if isinstance(bursts, list) and bursts and all(isinstance(b, dict) for b in bursts):
            for b in bursts:
                first = b.get("first_step", b.get("step"))
                if isinstance(first, (int, float)):
                    last = b.get("last_step", first)
                    regions.append((int(first), int(last), str(get("rule"))))
            continue
        span = None
        for a, b in (
            ("first_step", "last_step"),
            ("start_step", "end_step"),
            ("burst_start", "burst_end"),
        ):
            if isinstance(evidence.get(a), (int, float)) and isinstance(
                evidence.get(b), (int, float)
            ):
                span = (int(evidence[a]), int(evidence[b]))
                break
        steps = evidence.get("steps") or evidence.get("step_range")
        if span is None and isinstance(steps, (list, tuple)) and len(steps) == 2:
            span = (int(steps[0]), int(steps[1]))
        if span is None and isinstance(evidence.get("step"), (int, float)):
            span = (int(evidence["step"]), int(evidence["step"]))
        if span is not None:
            regions.append((*span, str(get("rule"))))
    return regions


def _grad_norm_over_time(m, plt, findings):
    grad = m.series("grad_norm")
    if len(grad) < 2:
        return None
    values = grad.to_numpy(float)
    floor = log_floor(values)
    if floor is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    zero_label: list = []
    _log_line(
        ax,
        grad.index,
        np.where(np.isfinite(values), values, np.nan),
        floor,
        zero_label,
        color="C0",
        lw=0.9,
        label="every optimizer step",
    )
    # the steps the per-layer instruments sampled: a rug along the bottom of the axes
    sampled = m.series("sample_triggered")
    rug = ax.get_xaxis_transform()
    for flag, height, label, color in (
        (0, 0.03, "per-layer sample (scheduled)", "C7"),
        (1, 0.09, "per-layer sample (after a jump)", "C3"),
    ):
        steps = sampled.index[sampled.to_numpy() == flag]
        if len(steps):
            ax.plot(
                steps,
                np.full(len(steps), height),
                ls="none",
                marker="|",
                ms=8,
                color=color,
                transform=rug,
                label=label,
            )
    bad = grad.index[~np.isfinite(values)]
    if len(bad):
        ax.plot(
            bad,
            np.full(len(bad), np.nanmax(values[np.isfinite(values)])),
            "x",
            color="k",
            label="NaN/Inf (drawn at the top)",
        )
    for i, (first, last, rule) in enumerate(spike_regions(findings)):
        ax.axvspan(
            first - 0.5,
            last + 0.5,
            color="C3",
            alpha=0.15,
            label=f"{rule}: steps {first}-{last}" if i < 3 else None,
        )
    ax.set_yscale("log")
    ax.set(
        xlabel="optimizer step",
        ylabel=LABELS["grad_norm"],
        title="gradient norm over training (before clipping)",
    )
    ax.legend(fontsize=7)
    return fig


def _grad_norms(m, plt):
    # per-layer `grad_norm` rows: a metrics table written by other tools names them so
    table = _per_layer(m, "layer_grad_norm")
    table = table if table is not None else _per_layer(m, "grad_norm")
    if table is None:
        return None
    floor = log_floor(table.to_numpy(float))
    if floor is None:
        return None
    steps = table.index.tolist()
    pick = sorted({steps[round(i * (len(steps) - 1) / 3)] for i in range(4)})
    fig, ax = plt.subplots(figsize=(6, 3.2))
    x = np.arange(len(table.columns))
    zero_label: list = []
    for step in pick:
        _log_line(
            ax,
            x,
            table.loc[step].fillna(np.nan).to_numpy(float),
            floor,
            zero_label,
            marker="o",
            ms=3,
            label=f"step {step}",
        )
    ax.set_xticks(x, table.columns, rotation=45, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set(
        xlabel="layer (input → output)",
        ylabel=LABELS["layer_grad_norm"],
        title="gradient norm through depth",
    )
    ax.legend(fontsize=7)
    return fig


def _update_ratios(m, plt):
    table = _per_layer(m, "update_ratio")
    if table is None:
        return None
    floor = log_floor(table.to_numpy(float))
    if floor is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    zero_label: list = []
    for i, layer in enumerate(table.columns):
        s = table[layer].dropna()
        if len(s):
            _log_line(
                ax,
                s.index,
                s.to_numpy(float),
                floor,
                zero_label,
                label=layer,
                **layer_style(i),
            )
    ax.axhline(1e-3, color="grey", ls="--", lw=0.8, label="healthy, about 1e-3")
    ax.set_yscale("log")
    ax.set(
        xlabel="optimizer step (sampled steps marked)",
        ylabel=LABELS["update_ratio"],
        title="how far each step moves the weights",
    )
    ax.legend(fontsize=6, ncol=2)
    return fig


def _activations(m, plt):
    tables = [(n, _per_layer(m, n)) for n in ("dead_frac", "saturated_frac")]
    tables = [(n, t) for n, t in tables if t is not None]
    if not tables:
        return None
    fig, axes = plt.subplots(1, len(tables), figsize=(5.5 * len(tables), 3.2), squeeze=False)
    for ax, (name, table) in zip(axes[0], tables, strict=True):
        for i, layer in enumerate(table.columns):
            s = table[layer].dropna()
            if len(s):
                ax.plot(s.index, s.to_numpy(float), label=layer, **layer_style(i))
        ax.set(
            xlabel="optimizer step (sampled steps marked)",
            ylabel=LABELS[name],
            title=LABELS[name].replace(" (share)", " per layer"),
            ylim=(-0.03, 1.03),
        )
        ax.legend(fontsize=6, ncol=2)
    return fig
