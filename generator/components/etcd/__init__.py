"""The etcd cluster on the etcd members, over TLS: its artifacts and its chapter."""
