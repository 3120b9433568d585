"""The CAs of the cluster's trust domains: each made once, reused by every later render, never re-made."""
