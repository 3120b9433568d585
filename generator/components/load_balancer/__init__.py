"""haproxy + keepalived on the masters in front of every kube-apiserver (or an external load balancer)."""

from generator.components.load_balancer.chapter import chapter
from generator.components.load_balancer.files import ID, artifacts

__all__ = ["ID", "artifacts", "chapter"]
