"""kube-scheduler on every master, with leader election: its artifacts and its chapter."""
