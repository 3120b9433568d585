"""The load balancer's files: haproxy.cfg and keepalived.conf per master, and the stats password.

Nothing is rendered when the cluster file chooses an external load balancer (`load_balancer.kind: external`).
"""

from __future__ import annotations

import ipaddress
import secrets
import string

from generator import daemons
from generator.artifacts import Artifact, on_node
from generator.components.load_balancer.service import (
    CHECK_FALL,
    CHECK_INTERVAL,
    CHECK_RISE,
    HAPROXY_CFG,
    ID,
    KEEPALIVED_CONF,
    enabled,
)
from generator.context import RenderContext
from generator.model import Cluster, Node

# Made once, 0600, never shown: the stats page's password (haproxy.cfg embeds it, so haproxy.cfg is secret too).
STATS_PASSWORD = "pki/haproxy-stats-password"
STATS_USER = "stats"
STATS_URI = "/stats"
PASSWORD_LENGTH = 24
PASSWORD_ALPHABET = string.ascii_letters + string.digits  # no character haproxy's tokenizer or a shell treats
MASK = "********"
# Each further master gets this much less priority; model validation keeps the lowest one >= 1.
PRIORITY_STEP = 10
BACKEND = daemons.KUBE_APISERVER.unit  # haproxy's backend: every master's kube-apiserver
VRRP_INSTANCE = "kube_apiserver"
TRACK_SCRIPT = "check_haproxy"


def backend_health(cluster: Cluster) -> str:
    """The path haproxy checks on each backend: the API server's (/readyz, or /healthz before it existed)."""
    health = daemons.KUBE_APISERVER.health
    assert health is not None
    return health(cluster)


def priorities(cluster: Cluster) -> list[tuple[Node, int]]:
    """Masters in file order with strictly descending VRRP priorities; the first is the preferred holder."""
    top = cluster.spec.load_balancer.priority
    return [(node, top - PRIORITY_STEP * i) for i, node in enumerate(cluster.masters)]


def is_v6(address: str) -> bool:
    return ipaddress.ip_address(address).version == 6


def vip_prefix(cluster: Cluster) -> str:
    vip = cluster.spec.api_server.vip or ""
    return f"{vip}/128" if is_v6(vip) else f"{vip}/32"


def hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if is_v6(ip) else f"{ip}:{port}"


def new_password() -> bytes:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH)).encode()


def stats_password(ctx: RenderContext) -> str:
    return ctx.secret(STATS_PASSWORD, new_password).decode().strip()


def haproxy_cfg(cluster: Cluster, node: Node, password: str) -> str:
    """haproxy 2.x, TCP mode: the API port on every address of the master, backends = every kube-apiserver.

    The health check is an HTTPS GET of /readyz (/healthz before 1.16; anonymous by default); the check skips
    certificate verification because it only reads a status code: clients' own TLS goes through untouched. A
    backend marked DOWN gets no new connections and keeps the ones it has: kube-apiserver closes them itself at the
    end of --shutdown-delay-duration, after the requests in them have finished (HTTP/2 clients get GOAWAY and
    reconnect through haproxy). haproxy does not cut them (`on-marked-down shutdown-sessions`): in the lab that
    aborted a request in flight at the moment of DOWN ("HTTP/2 stream 1 was not closed cleanly"), 1 in ~1,100
    during a renewal and 1 in ~2,400 during a CA rotation.
    """
    api, lb = cluster.spec.api_server, cluster.spec.load_balancer
    vip = api.vip or ""
    # `*` binds every IPv4 address, so a backup master can listen before it holds the VIP (no ip_nonlocal_bind).
    bind = f":::{api.port} v4v6" if is_v6(vip) else f"*:{api.port}"
    servers = "\n".join(
        f"    server {m.name} {hostport(m.ip, api.secure_port)} check check-ssl verify none"
        for m in cluster.masters
    )
    return f"""global
    log /dev/log local0
    log /dev/log local1 notice
    chroot /var/lib/haproxy
    user haproxy
    group haproxy
    daemon

defaults
    log global
    mode tcp
    option tcplog
    option dontlognull
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout check 5s
    # A refused connection (a backend stopping between two health checks) is retried, the last try on
    # another backend: clients do not see an apiserver go away.
    retries 3
    option redispatch

frontend {BACKEND}
    bind {bind}
    default_backend {BACKEND}

backend {BACKEND}
    balance leastconn
    option httpchk GET {backend_health(cluster)}
    http-check expect status 200
    default-server inter {CHECK_INTERVAL}s fall {CHECK_FALL} rise {CHECK_RISE}
{servers}

listen stats
    bind {hostport(node.ip, lb.stats_port)}
    mode http
    option httplog
    timeout client 30s
    stats enable
    stats uri {STATS_URI}
    stats refresh 10s
    stats realm haproxy-stats
    stats auth {STATS_USER}:{password}
    stats hide-version
"""


def track_command(cluster: Cluster) -> str:
    """The track script: can this master's own haproxy accept a TCP connection on the API port?"""
    return f"/bin/bash -c '</dev/tcp/127.0.0.1/{cluster.spec.api_server.port}'"


def keepalived_conf(cluster: Cluster, node: Node) -> str:
    """keepalived 2.x: every master starts as BACKUP; unicast VRRP between the masters only."""
    lb = cluster.spec.load_balancer
    ranked = priorities(cluster)
    priority = dict((n.name, p) for n, p in ranked)[node.name]
    highest = ranked[0][0].name == node.name
    peers = [m for m in cluster.masters if m.name != node.name]
    lines = [
        "global_defs {",
        f"    router_id {node.name}",
        "    script_user root",
        "    enable_script_security",
        "}",
        "",
        f"vrrp_script {TRACK_SCRIPT} {{",
        f'    script "{track_command(cluster)}"',
        "    interval 2",
        "    timeout 2",
        "    fall 2",
        "    rise 2",
        "}",
        "",
        f"vrrp_instance {VRRP_INSTANCE} {{",
        "    state BACKUP",
        f"    interface {lb.interface}",
        f"    virtual_router_id {lb.virtual_router_id}",
        f"    priority {priority}",
    ]
    if highest:
        lines.append("    nopreempt")
    lines.append("    advert_int 1")
    if peers:
        lines += [f"    unicast_src_ip {node.ip}", "    unicast_peer {"]
        lines += [f"        {p.ip}" for p in peers]
        lines += ["    }", "    check_unicast_src"]
    lines += [
        "    track_script {",
        f"        {TRACK_SCRIPT}",
        "    }",
        "    virtual_ipaddress {",
        f"        {vip_prefix(cluster)} dev {lb.interface}",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def masked_path(node: Node) -> str:
    """A public copy of the node's haproxy.cfg with the password masked, for the page only (never pushed)."""
    return f"{ID}/{node.name}/haproxy.cfg"


def artifacts(ctx: RenderContext) -> list[Artifact]:
    cluster = ctx.cluster
    if not enabled(cluster):
        return []
    password = stats_password(ctx)
    files = [Artifact(STATS_PASSWORD, password.encode(), ID, "config", secret=True)]
    for node in cluster.masters:
        files += [
            Artifact(on_node(node, HAPROXY_CFG), haproxy_cfg(cluster, node, password).encode(), ID, "config",
                     secret=True),
            Artifact(masked_path(node), haproxy_cfg(cluster, node, MASK).encode(), ID, "config"),
            Artifact(on_node(node, KEEPALIVED_CONF), keepalived_conf(cluster, node).encode(), ID, "config"),
        ]
    return files
