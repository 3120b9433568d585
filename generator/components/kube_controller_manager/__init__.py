"""kube-controller-manager on every master, with leader election: its artifacts and its chapter."""

from generator.components.kube_controller_manager.chapter import chapter
from generator.components.kube_controller_manager.files import ID, artifacts

__all__ = ["ID", "artifacts", "chapter"]
