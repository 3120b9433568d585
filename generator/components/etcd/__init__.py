"""The etcd cluster on the etcd members, over TLS: its artifacts and its chapter."""

from generator.components.etcd.chapter import chapter
from generator.components.etcd.files import ID, artifacts

__all__ = ["ID", "artifacts", "chapter"]
