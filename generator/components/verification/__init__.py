"""Cluster verification: every control-plane service up, reachable through the API endpoint, leaders elected."""
