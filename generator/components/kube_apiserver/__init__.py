"""kube-apiserver on every master, all active behind the load balancer: its artifacts and its chapter."""

from generator.components.kube_apiserver.chapter import chapter
from generator.components.kube_apiserver.files import ID, artifacts

__all__ = ["ID", "artifacts", "chapter"]
