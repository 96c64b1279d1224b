"""nnlearn: why is my neural network not learning?

The top-level package stays torch-free so that `nnlearn --help`, `explain` and `rules` start
instantly; the measuring layer is imported on first use.
"""

__version__ = "0.1.0"

__all__ = ["Monitor", "Probe", "__version__"]


def __getattr__(name: str):
    if name == "Monitor":
        from nnlearn.monitor import Monitor

        return Monitor
    if name == "Probe":
        from nnlearn.api import Probe

        return Probe
    raise AttributeError(f"module 'nnlearn' has no attribute {name!r}")
