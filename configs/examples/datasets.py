"""Data with known problems, for the data-audit examples (`_target_: datasets.<fn>`).

Each function returns (train, val) as (X, y) tensor pairs, seeded and small. The clean base is
the quickstart's 3-arm spiral, so a problem's effect can be compared with the healthy run.
"""

from __future__ import annotations

import math

import torch


def spirals(n: int = 2000, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """CS231n's spiral, as `data.name: spirals`: X (n, 2) in [-1, 1], y int64."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    r = torch.rand(n, generator=g) * 0.95 + 0.05
    t = y * (2 * math.pi / classes) + r * 4.0 + torch.randn(n, generator=g) * 0.2
    return torch.stack([r * torch.sin(t), r * torch.cos(t)], 1), y


def _split(x: torch.Tensor, y: torch.Tensor, val_fraction: float = 0.2):
    n_val = int(len(x) * val_fraction)
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def scaled(scale: float = 1000.0, offset: float = 5000.0, n: int = 2000):
    """The spiral in raw units, e.g. money: every feature around `offset`, spread `scale`."""
    x, y = spirals(n)
    return _split(x * scale + offset, y)


def with_nan(fraction: float = 0.05, n: int = 2000):
    """NaN in feature 1 of `fraction` of the rows, a missing value nobody imputed."""
    x, y = spirals(n)
    g = torch.Generator().manual_seed(1)
    x[torch.rand(n, generator=g) < fraction, 1] = math.nan
    return _split(x, y)


def imbalanced(ratio: float = 20.0, n: int = 2000):
    """Two spiral arms, the majority class `ratio` times as frequent as the minority
    (`ratio: 2.33` is a healthy 70:30 split)."""
    x, y = spirals(int(n * 1.2), classes=2)
    majority = int((y == 0).sum())
    minority = torch.nonzero(y == 1).ravel()[: max(2, int(majority / ratio))]
    idx = torch.cat([torch.nonzero(y == 0).ravel(), minority])
    idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(2))]
    return _split(x[idx], y[idx])


def conflicting(fraction: float = 0.2, n: int = 2000):
    """`fraction` of the rows repeated with a different label: contradictory annotations."""
    x, y = spirals(n)
    k = int(n * fraction)
    x = torch.cat([x, x[:k]])
    y = torch.cat([y, (y[:k] + 1) % 3])
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(3))
    return _split(x[idx], y[idx])


def leaky(fraction: float = 0.3, n: int = 2000):
    """A validation set of which `fraction` are copies of training rows (a split made after
    augmentation, or a dataset concatenated with itself)."""
    (xt, yt), (xv, yv) = _split(*spirals(n))
    k = int(len(xv) * fraction)
    return (xt, yt), (torch.cat([xt[:k], xv[k:]]), torch.cat([yt[:k], yv[k:]]))


def one_based(n: int = 2000):
    """Labels 1..3 instead of 0..2 (exported from R, or from a 1-based annotation tool)."""
    x, y = spirals(n)
    return _split(x, y + 1)


def tiny(per_class: int = 8, classes: int = 3):
    """A handful of samples per class."""
    x, y = spirals(per_class * classes * 2, classes=classes)
    return _split(x, y, 0.5)


def big_targets(scale: float = 1.0e4, offset: float = 2.0e5, n: int = 2000):
    """A regression target in raw units (house prices): mean `offset`, spread `scale`."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(n, 8, generator=g)
    w = torch.randn(8, generator=g)
    y = (x @ w + 0.1 * torch.randn(n, generator=g)) / w.norm()
    return _split(x, y * scale + offset)


def pixel_classes(n: int = 1200, classes: int = 3, seed: int = 5):
    """Flattened 8x8 grey images in 0-255: a smooth prototype per class plus noise."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.rand(classes, 2, 2, generator=g).repeat_interleave(4, 1).repeat_interleave(4, 2)
    y = torch.randint(0, classes, (n,), generator=g)
    x = (protos[y] * 200 + 28 + 30 * torch.randn(n, 8, 8, generator=g)).clamp(0, 255).round()
    return x.flatten(1), y


def labels_divided(label_div: float = 255.0, n: int = 1200):
    """The whole table divided by 255, label column included: every training label floors to
    0 (`label_div: 1` is the fixed pipeline). Validation labels come from the untouched file."""
    x, y = pixel_classes(n)
    (xt, yt), (xv, yv) = _split(x / 255, y)
    return (xt, torch.div(yt, label_div, rounding_mode="floor").long()), (xv, yv)


def split_scaled(train_div: float = 255.0, val_div: float = 1.0, n: int = 1200):
    """Training pixels divided by `train_div`, validation pixels by `val_div` (1: the step
    that scaled the training loader only; 255 for both is the fixed pipeline)."""
    x, y = pixel_classes(n)
    (xt, yt), (xv, yv) = _split(x, y)
    return (xt / train_div, yt), (xv / val_div, yv)


def sensor(raw: bool = True, n: int = 2000):
    """Four sensor readings in 0-100 and a target of standard deviation ~600 (issue 15);
    `raw: false` is the fixed version: readings / 100, the target z-scored."""
    g = torch.Generator().manual_seed(6)
    x = torch.rand(n, 4, generator=g) * 100
    y = 9 * x[:, 0] + 0.08 * x[:, 1] ** 2 + 4 * x[:, 2] * (x[:, 3] > 50)
    y = 1.6 * (y + 5 * torch.randn(n, generator=g))
    if not raw:
        x, y = x / 100, (y - y.mean()) / y.std()
    return _split(x, y)


def shares(n: int = 2000):
    """A regression whose targets are shares in (0, 1): y = sigmoid of a smooth function of
    four features, plus a little noise kept inside (0, 1)."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(n, 4, generator=g)
    z = 1.5 * x[:, 0] - x[:, 1] + torch.sin(2 * x[:, 2]) + 0.5 * x[:, 3] * x[:, 0]
    y = torch.sigmoid(z + 0.1 * torch.randn(n, generator=g))
    return _split(x, y)
