"""Distinct clusters for the benchmark: different names, addresses, releases and sizes, not copies of one file.

Releases cycle through 1.20–1.34 and sizes through 3, 1 and 5 masters (a single master renders no load balancer),
so the pages and artifacts differ the way a real fleet's do.
"""

from __future__ import annotations

from pathlib import Path

import yaml

RELEASES = ("1.20.15", "1.22.17", "1.24.17", "1.26.15", "1.28.15", "1.30.4", "1.32.9", "1.34.1")
MASTERS = (3, 1, 5)
PREFIX = "bench-"


def spec(i: int) -> dict[str, object]:
    """Cluster `i`: its own /24 (10.<i // 200>.<i % 200>.0), release and master count."""
    net = f"10.{i // 200}.{i % 200}"
    masters = MASTERS[i % len(MASTERS)]
    cluster: dict[str, object] = {
        "name": names(i + 1)[i],
        "kubernetes_version": RELEASES[i % len(RELEASES)],
        "nodes": [{"name": f"m{i:03d}-{k:02d}", "ip": f"{net}.{10 + k}"} for k in range(1, masters + 1)],
        "ssh": {"user": "kube"},
    }
    if masters > 1:
        cluster["api_server"] = {"vip": f"{net}.100", "port": 8443}
        cluster["load_balancer"] = {"interface": "eth0", "virtual_router_id": 1 + i % 250}
    return cluster


def names(count: int) -> list[str]:
    return [f"{PREFIX}{i:03d}" for i in range(count)]


def write(directory: Path, count: int) -> list[Path]:
    """`count` cluster files in `directory` (created), named bench-000.yaml on."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names(count)):
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec(i), sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def change_one_field(path: Path) -> None:
    """The edit a "one cluster changed" rebuild measures: another ssh user, which every command on its pages shows."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["ssh"]["user"] = "ops" if data["ssh"]["user"] != "ops" else "kube"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
