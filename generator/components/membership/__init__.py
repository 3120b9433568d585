"""The membership chapter: a master joins (`membership.joining`) or leaves (`membership.leaving`) a running cluster,
etcd membership first, then every other master's files one master at a time, while requests through the VIP keep
being counted. Its per-node diffs are rendered by generator/render.py."""
