"""kube-apiserver on every master, all active behind the load balancer: its artifacts and its chapter."""
