"""The measuring layer: `Monitor` plus instruments on schedules."""

from nnlearn.monitor.monitor import Monitor
from nnlearn.monitor.schedule import ALWAYS, Schedule

__all__ = ["ALWAYS", "Monitor", "Schedule"]
