"""haproxy + keepalived on the masters in front of every kube-apiserver (or an external load balancer)."""
