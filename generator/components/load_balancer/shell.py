"""Shell shapes the load-balancer steps share with later chapters: the VIP holder, backend state, a TCP probe."""

from __future__ import annotations

import shlex

from generator.components.load_balancer.files import BACKEND, STATS_PASSWORD, STATS_URI, STATS_USER, vip_prefix
from generator.model import Cluster, Node
from generator.steps import pki_file, ssh_prefix


def stats_url(cluster: Cluster, node: Node, csv: bool = False) -> str:
    host = f"[{node.ip}]" if ":" in node.ip else node.ip
    return f"http://{host}:{cluster.spec.load_balancer.stats_port}{STATS_URI}" + (";csv" if csv else "")


def vip_check(cluster: Cluster) -> str:
    return f"ip -brief addr show dev {cluster.spec.load_balancer.interface} to {vip_prefix(cluster)}"


def on_node_function(cluster: Cluster) -> list[str]:
    """Shell function: `on_node NAME CMD` runs CMD on a master."""
    branches = [f"    {n.name}) {ssh_prefix(cluster, n)} \"$2\" </dev/null ;;" for n in cluster.masters]
    return [
        "on_node() {",
        '  case "$1" in',
        *branches,
        '    *) echo "not a master: $1" >&2; return 1 ;;',
        "  esac",
        "}",
    ]


def holder_functions(cluster: Cluster) -> list[str]:
    """Shell functions: `on_node NAME CMD` runs CMD on a master; `holders` prints the masters holding the VIP."""
    names = " ".join(n.name for n in cluster.masters)
    check = shlex.quote(vip_check(cluster))
    return [
        *on_node_function(cluster),
        f"holders() {{ for n in {names}; do [ -n \"$(on_node \"$n\" {check})\" ] && echo \"$n\"; done; }}",
    ]


def backend_status_function(cluster: Cluster) -> list[str]:
    """Shell function: `backend_status MASTER SERVER` prints SERVER's state (UP, DOWN, …) as seen by MASTER's
    haproxy, from its stats page (CSV field 18); the password is read from its file when it runs."""
    password_file = pki_file(cluster, STATS_PASSWORD.removeprefix("pki/"))
    branches = [f"    {n.name}) url={shlex.quote(stats_url(cluster, n, csv=True))} ;;" for n in cluster.masters]
    return [
        "backend_status() {",
        '  local url; case "$1" in',
        *branches,
        '    *) echo "not a master: $1" >&2; return 1 ;;',
        "  esac",
        f'  curl -sS --fail -u "{STATS_USER}:$(cat {shlex.quote(password_file)})" "$url" '
        f"| awk -F, -v s=\"$2\" '$1 == \"{BACKEND}\" && $2 == s {{ print $18 }}'",
        "}",
    ]


def names_pattern(cluster: Cluster) -> str:
    return "(" + "|".join(n.name for n in cluster.masters) + ")"


def tcp_probe(cluster: Cluster, seconds: int = 1, quiet: bool = True) -> str:
    """Shell: a TCP connection to the VIP's port opens within `seconds` (bash's /dev/tcp, no extra tool)."""
    api = cluster.spec.api_server
    probe = f"timeout {seconds} bash -c {shlex.quote(f'exec 3<>/dev/tcp/{api.vip}/{api.port}')}"
    return f"{probe} 2>/dev/null" if quiet else probe
