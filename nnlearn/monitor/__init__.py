"""The measuring layer: `Monitor` plus instruments on schedules."""

from nnlearn.monitor.monitor import Monitor
from nnlearn.monitor.schedule import ALWAYS, Sampler, Schedule

__all__ = ["ALWAYS", "Monitor", "Sampler", "Schedule"]
