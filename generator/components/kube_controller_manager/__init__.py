"""kube-controller-manager on every master, with leader election: its artifacts and its chapter."""
