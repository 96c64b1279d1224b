"""Seeded synthetic datasets: small, shipped with the code, no downloads.

Classification generators return float32 X and int64 labels; regression ones float32 targets.
`noise` is the standard deviation of the Gaussian noise in each generator's own units.
"""

from __future__ import annotations

import math

import numpy as np


def generate(
    name: str, n: int, n_classes: int, noise: float, n_features: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """-> (X, y, task)."""
    rng = np.random.default_rng(seed)
    fn = _GENERATORS[name]
    return fn(rng, n, n_classes, noise, n_features)


def _blobs(rng, n, k, noise, d):
    d = d or 2
    centers = rng.uniform(-5, 5, size=(k, d))
    y = rng.integers(0, k, size=n)
    x = centers[y] + rng.normal(0, 1.0 + noise, size=(n, d))
    return x, y, "classification"


def _circles(rng, n, k, noise, d):
    y = rng.integers(0, 2, size=n)
    t = rng.uniform(0, 2 * math.pi, size=n)
    r = np.where(y == 0, 1.0, 0.5)
    x = np.stack([r * np.cos(t), r * np.sin(t)], 1) + rng.normal(0, noise, size=(n, 2))
    return x, y, "classification"


def _moons(rng, n, k, noise, d):
    y = rng.integers(0, 2, size=n)
    t = rng.uniform(0, math.pi, size=n)
    x = np.where(
        y[:, None] == 0,
        np.stack([np.cos(t), np.sin(t)], 1),
        np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1),
    )
    return x + rng.normal(0, noise, size=(n, 2)), y, "classification"


def _spirals(rng, n, k, noise, d):
    # CS231n's spiral: k arms, each a full turn outwards
    y = rng.integers(0, k, size=n)
    r = rng.uniform(0.05, 1.0, size=n)
    t = y * (2 * math.pi / k) + r * 4.0 + rng.normal(0, noise, size=n) * 2.0
    x = np.stack([r * np.sin(t), r * np.cos(t)], 1)
    return x, y, "classification"


def _xor(rng, n, k, noise, d):
    x = rng.uniform(-1, 1, size=(n, 2))
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    return x + rng.normal(0, noise, size=(n, 2)), y, "classification"


def _linear(rng, n, k, noise, d):
    d = d or 10
    w = rng.normal(0, 1, size=d)
    x = rng.normal(0, 1, size=(n, d))
    return x, x @ w + rng.normal(0, noise, size=n), "regression"


def _sine(rng, n, k, noise, d):
    x = rng.uniform(-3, 3, size=(n, 1))
    return x, np.sin(x[:, 0]) + rng.normal(0, noise, size=n), "regression"


def _images(rng, n, k, noise, d):
    # k classes of 1x16x16 images: each class a smooth random prototype, samples add noise
    size = 16
    coarse = rng.normal(0, 1, size=(k, 1, 4, 4))
    protos = coarse.repeat(4, axis=2).repeat(4, axis=3)
    y = rng.integers(0, k, size=n)
    x = protos[y] + rng.normal(0, 0.5 + noise, size=(n, 1, size, size))
    return x, y, "classification"


_GENERATORS = {
    "blobs": _blobs,
    "circles": _circles,
    "moons": _moons,
    "spirals": _spirals,
    "xor": _xor,
    "linear": _linear,
    "sine": _sine,
    "images": _images,
}
