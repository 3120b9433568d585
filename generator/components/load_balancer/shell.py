"""Shell shapes the load-balancer steps share with later chapters: the VIP holder, backend state, a TCP probe.

The first two are named scripts (vip-holders.sh, backend-status.sh), which a step calls through a one-line shell
function of the same name."""

from __future__ import annotations

import shlex

from generator.components.load_balancer.files import BACKEND, STATS_PASSWORD, STATS_URI, STATS_USER, vip_prefix
from generator.components.load_balancer.service import enabled
from generator.components.prerequisites.nodes import on_node_function, on_node_script
from generator.model import Cluster, Node
from generator.steps import Script, pki_file, script_header, scripts_dir
from generator.text import Texts

TEXT = Texts.of_component(__file__)


def stats_url(cluster: Cluster, node: Node, csv: bool = False) -> str:
    host = f"[{node.ip}]" if ":" in node.ip else node.ip
    return f"http://{host}:{cluster.spec.load_balancer.stats_port}{STATS_URI}" + (";csv" if csv else "")


def vip_check(cluster: Cluster) -> str:
    return f"ip -brief addr show dev {cluster.spec.load_balancer.interface} to {vip_prefix(cluster)}"


def holders_script(cluster: Cluster) -> Script | None:
    """`vip-holders.sh`: the masters holding the VIP now, one per line (none while it moves)."""
    if not enabled(cluster):
        return None
    names = " ".join(n.name for n in cluster.masters)
    check = shlex.quote(vip_check(cluster))
    return Script(
        "vip-holders.sh", **TEXT.fields("script.vip-holders", check=vip_check(cluster)), body="\n".join([
            *script_header("vip-holders.sh: the masters that hold the VIP now, one per line"),
            f"for n in {names}; do",
            f'    [ -n "$({on_node_script(cluster).call()} "$n" {check})" ] && echo "$n"',
            "done",
        ]),
        directory=scripts_dir(cluster))


def holder_functions(cluster: Cluster) -> list[str]:
    """Shell functions: `on_node NAME CMD` runs CMD on a node; `holders` prints the masters holding the VIP."""
    script = holders_script(cluster)
    assert script is not None, "no haproxy and keepalived on the masters: no VIP to hold"
    return [*on_node_function(cluster), script.function("holders")]


def backend_status_script(cluster: Cluster) -> Script | None:
    """`backend-status.sh MASTER SERVER`: SERVER's state (UP, DOWN, …) as MASTER's haproxy sees it, from its stats
    page (CSV field 18); the password is read from its file when it runs."""
    if not enabled(cluster):
        return None
    password_file = pki_file(cluster, STATS_PASSWORD.removeprefix("pki/"))
    branches = [f"    {n.name}) url={shlex.quote(stats_url(cluster, n, csv=True))} ;;" for n in cluster.masters]
    return Script(
        "backend-status.sh", **TEXT.fields("script.backend-status", backend=BACKEND), body="\n".join([
            *script_header("backend-status.sh MASTER SERVER: SERVER's state in MASTER's haproxy (UP, DOWN, ...)"),
            'case "$1" in',
            *branches,
            '    *) echo "not a master: $1" >&2; exit 1 ;;',
            "esac",
            f'curl -sS --fail -u "{STATS_USER}:$(cat {shlex.quote(password_file)})" "$url" '
            f"| awk -F, -v s=\"$2\" '$1 == \"{BACKEND}\" && $2 == s {{ print $18 }}'",
        ]),
        directory=scripts_dir(cluster))


def backend_status_function(cluster: Cluster) -> list[str]:
    """Shell function: `backend_status MASTER SERVER` (backend-status.sh)."""
    script = backend_status_script(cluster)
    assert script is not None, "no haproxy on the masters"
    return [script.function("backend_status")]


def names_pattern(cluster: Cluster) -> str:
    return "(" + "|".join(n.name for n in cluster.masters) + ")"


def tcp_probe(cluster: Cluster, seconds: int = 1, quiet: bool = True) -> str:
    """Shell: a TCP connection to the VIP's port opens within `seconds` (bash's /dev/tcp, no extra tool)."""
    api = cluster.spec.api_server
    probe = f"timeout {seconds} bash -c {shlex.quote(f'exec 3<>/dev/tcp/{api.vip}/{api.port}')}"
    return f"{probe} 2>/dev/null" if quiet else probe
