"""kube-scheduler on every master, with leader election: its artifacts and its chapter."""

from generator.components.kube_scheduler.chapter import chapter
from generator.components.kube_scheduler.files import ID, artifacts

__all__ = ["ID", "artifacts", "chapter"]
