"""Restore: every etcd member from one snapshot, the control plane stopped before and started after."""
