"""Data for the accuracy benchmark's cases (`_target_: acc_data.<fn>`), each a fault as users
report it: raw tabular units, pixels left at 0-255 on one split, labels divided by 255, a third
of the labels flipped by a careless annotator, duplicated rows across the split.

Every function returns (train, val) as (X, y) tensor pairs. The data seed is fixed (`seed`): the
benchmark varies the training seed, not the problem.
"""

from __future__ import annotations

import math

import torch


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _split(x: torch.Tensor, y: torch.Tensor, val_fraction: float = 0.25):
    n_val = int(len(x) * val_fraction)
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def _two_moons(n: int, noise: float, g: torch.Generator):
    y = torch.randint(0, 2, (n,), generator=g)
    t = torch.rand(n, generator=g) * math.pi
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    x = torch.where(y[:, None] == 0, upper, lower) + noise * torch.randn(n, 2, generator=g)
    return x, y


def credit(n: int = 2000, raw: bool = True, seed: int = 0):
    """A credit-default table: age (20-70 years), income (~5e4), balance (~1e4), 5 ratios.
    The label depends on standardised features; `raw: false` is the user who z-scored them."""
    g = _gen(seed)
    z = torch.randn(n, 8, generator=g)
    logit = 1.5 * z[:, 0] - 2.0 * z[:, 1] * z[:, 2] + 1.2 * z[:, 3] - z[:, 4] ** 2 + 1.0
    y = (logit + 0.3 * torch.randn(n, generator=g) > 0).long()
    if raw:
        scale = torch.tensor([12.0, 2.0e4, 5.0e3, 0.2, 0.3, 1.0e3, 50.0, 8.0])
        offset = torch.tensor([45.0, 5.0e4, 1.0e4, 0.5, 0.4, 2.0e3, 300.0, 20.0])
        z = z * scale + offset
    return _split(z, y)


def pixels(
    n: int = 1500, classes: int = 4, train_div: float = 255.0, val_div: float = 255.0, seed: int = 0
):
    """1x12x12 grey images in 0-255 (class prototypes plus noise). The training split is
    divided by `train_div`, validation by `val_div`: `val_div: 1` is the pipeline that
    scaled only the training loader."""
    g = _gen(seed)
    protos = (
        torch.rand(classes, 1, 3, 3, generator=g).repeat_interleave(4, 2).repeat_interleave(4, 3)
    )
    y = torch.randint(0, classes, (n,), generator=g)
    x = (protos[y] * 200 + 28 + 30 * torch.randn(n, 1, 12, 12, generator=g)).clamp(0, 255).round()
    (xt, yt), (xv, yv) = _split(x, y)
    return (xt / train_div, yt), (xv / val_div, yv)


def digits_flat(
    n: int = 1500, classes: int = 4, label_div: float = 1.0, pixel_div: float = 255.0, seed: int = 0
):
    """The pixels above flattened for an MLP, divided by `pixel_div` (1: left at 0-255).
    `label_div: 255` is the StackOverflow bug of normalising the whole table, label column
    included: every training label becomes 0 (validation labels come from the untouched
    file)."""
    (xt, yt), (xv, yv) = pixels(n, classes, pixel_div, pixel_div, seed=seed)
    yt = torch.div(yt, label_div, rounding_mode="floor").long() if label_div != 1 else yt
    return (xt.flatten(1), yt), (xv.flatten(1), yv)


def noisy_labels(n: int = 2000, flip: float = 0.33, seed: int = 0):
    """Two moons whose labels were flipped at random for `flip` of the rows, in both splits (a
    crowd-sourced annotation): the best possible accuracy is 1 - flip."""
    g = _gen(seed)
    x, y = _two_moons(n, 0.1, g)
    flipped = torch.rand(n, generator=g) < flip
    return _split(x, torch.where(flipped, 1 - y, y))


def conflicting_rows(n: int = 1500, share: float = 0.4, seed: int = 0):
    """Rows merged from two annotation rounds that disagree: `share` of the training inputs
    appear twice, with the other label the second time."""
    g = _gen(seed)
    (xt, yt), val = _split(*_two_moons(n, 0.1, g))
    k = int(len(xt) * share)
    x = torch.cat([xt, xt[:k]])
    y = torch.cat([yt, 1 - yt[:k]])
    order = torch.randperm(len(x), generator=g)
    return (x[order], y[order]), val


def leaky_split(n: int = 1200, copies: float = 0.6, seed: int = 0):
    """A validation set made after oversampling: `copies` of it are rows of the training set.
    Small noisy training data, so the copied rows make validation look better than it is."""
    g = _gen(seed)
    (xt, yt), (xv, yv) = _split(*_two_moons(n, 0.35, g), val_fraction=0.5)
    k = int(len(xv) * copies)
    return (xt, yt), (torch.cat([xt[:k], xv[k:]]), torch.cat([yt[:k], yv[k:]]))


def fraud(n: int = 3000, positive: float = 0.02, seed: int = 0):
    """Card transactions, `positive` of them fraud; the fraud rows overlap the others."""
    g = _gen(seed)
    y = (torch.rand(n, generator=g) < positive).long()
    x = torch.randn(n, 6, generator=g) + 0.8 * y[:, None].float()
    return _split(x, y)


def missing_values(n: int = 2000, share: float = 0.1, seed: int = 0):
    """The standardised credit table with `share` of one column missing (NaN), not imputed."""
    (xt, yt), (xv, yv) = credit(n, raw=False, seed=seed)
    g = _gen(seed + 1)
    xt[torch.rand(len(xt), generator=g) < share, 2] = float("nan")
    return (xt, yt), (xv, yv)


def inf_targets(n: int = 2000, share: float = 0.01, seed: int = 0):
    """A regression whose target is a ratio computed without guarding the denominator:
    `share` of the training targets are +-inf."""
    (xt, yt), val = regression(n, seed)
    g = _gen(seed + 2)
    bad = torch.rand(len(yt), generator=g) < share
    yt = torch.where(bad, torch.sign(yt) * float("inf"), yt)
    return (xt, yt), val


def few_rows(n_train: int = 24, n_val: int = 400, noise: float = 0.3, seed: int = 0):
    """A pilot study: a couple of dozen labelled rows of a noisy two-moons problem."""
    g = _gen(seed)
    x, y = _two_moons(n_train + n_val, noise, g)
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def checkerboard(n: int = 2000, cells: int = 4, seed: int = 0):
    """A `cells` x `cells` checkerboard on [-1, 1]^2: no linear boundary separates it."""
    g = _gen(seed)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    idx = ((x + 1) / 2 * cells).floor().clamp(max=cells - 1).long()
    return _split(x, ((idx[:, 0] + idx[:, 1]) % 2).long())


def sensor_regression(n: int = 2000, raw: bool = True, seed: int = 0):
    """A sensor calibration: 4 readings in 0-100, a target with standard deviation ~650 (issue
    15's case). `raw: false` is the fixed version: inputs / 100, targets z-scored."""
    g = _gen(seed)
    x = torch.rand(n, 4, generator=g) * 100
    y = (
        9 * x[:, 0]
        + 0.08 * x[:, 1] ** 2
        + 4 * x[:, 2] * (x[:, 3] > 50)
        + 5 * torch.randn(n, generator=g)
    )
    y = y * 1.6
    if not raw:
        x = x / 100
        y = (y - y.mean()) / y.std()
    return _split(x, y)


def house_prices(n: int = 2000, seed: int = 0):
    """Standardised features, prices in dollars: mean ~3e5, spread ~6e4."""
    g = _gen(seed)
    x = torch.randn(n, 6, generator=g)
    y = 3.0e5 + 6.0e4 * (0.7 * x[:, 0] - 0.5 * x[:, 1] + 0.3 * x[:, 2] * x[:, 3])
    return _split(x, y + 3.0e3 * torch.randn(n, generator=g))


def regression(n: int = 2000, scale: float = 1.0, seed: int = 0):
    """A smooth nonlinear regression on standardised inputs, targets of spread `scale`."""
    g = _gen(seed)
    x = torch.randn(n, 5, generator=g)
    y = (
        torch.sin(x[:, 0])
        + 0.5 * x[:, 1] * x[:, 2]
        - 0.3 * x[:, 3]
        + 0.05 * torch.randn(n, generator=g)
    )
    return _split(x, scale * (y - y.mean()) / y.std())


def binary_float(n: int = 2000, seed: int = 0):
    """Two moons with float 0/1 labels, for sigmoid outputs under BCELoss."""
    x, y = _two_moons(n, 0.1, _gen(seed))
    return _split(x, y.float())
