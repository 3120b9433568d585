"""The load-balancer chapter: haproxy + keepalived on the masters (or an external load balancer), zh and en."""

from __future__ import annotations

from generator.artifacts import on_node
from generator.components.load_balancer.alternatives import external_chapter, single_master_chapter
from generator.components.load_balancer.checks import failover_step, stats_step, through_vip_step, vip_step
from generator.components.load_balancer.files import (
    MASK,
    PASSWORD_LENGTH,
    STATS_PASSWORD,
    STATS_URI,
    STATS_USER,
    artifacts,
    backend_health,
    masked_path,
    priorities,
    track_command,
    vip_prefix,
)
from generator.components.load_balancer.service import (
    CHECK_FALL,
    CHECK_INTERVAL,
    HAPROXY_CFG,
    ID,
    KEEPALIVED_CONF,
    enabled,
)
from generator.model import Cluster
from generator.steps import (
    Chapter,
    Show,
    Step,
    for_each_master,
    on,
    pki_file,
    push,
    render,
    sudo,
)
from generator.text import NO_TEXT, Texts, enumeration

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists
TEXT = Texts.of_component(__file__)

def chapter(cluster: Cluster) -> Chapter:
    if not cluster.load_balanced:
        return single_master_chapter(cluster)
    if not enabled(cluster):
        return external_chapter(cluster)
    api = cluster.spec.api_server
    return Chapter(
        **TEXT.chapter(ID, cluster=cluster, api=api, masters=len(cluster.masters)),
        number=3,
        steps=(
            install_step(cluster),
            haproxy_step(cluster),
            keepalived_step(cluster),
            distribute_step(cluster),
            validate_step(cluster),
            start_step(cluster),
            status_step(cluster),
            stats_step(cluster),
            vip_step(cluster),
            through_vip_step(cluster),
            failover_step(cluster),
        ),
    )


def per_node_show(cluster: Cluster, name: str, path_of: dict[str, str]) -> Show:
    return Show(name, "text", tuple((n.name, path_of[n.name]) for n in cluster.masters))


def install_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    return Step(
        **TEXT.step(f"{ID}.install", s=s),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node, "dpkg -s haproxy keepalived >/dev/null 2>&1 || "
                              f"{{ {s}apt-get update -qq && {s}apt-get install -y -qq haproxy keepalived; }}"),
            # sudo: both live in /usr/sbin, which is not on an ordinary user's PATH on Debian.
            on(cluster, node, f"{s}haproxy -v", expect=r"HAProxy version [2-9]\.",
               example="HAProxy version 2.6.12-1+deb12u1 2023/12/16 - https://haproxy.org/"),
            on(cluster, node, f"{s}keepalived --version", expect=r"Keepalived v[2-9]\.",
               example="Keepalived v2.2.7 (01/16,2022)"),
        ]),
    )


def haproxy_step(cluster: Cluster) -> Step:
    api, lb = cluster.spec.api_server, cluster.spec.load_balancer
    password_file = pki_file(cluster, STATS_PASSWORD.removeprefix("pki/"))
    check = backend_health(cluster)
    return Step(
        **TEXT.step(f"{ID}.haproxy", api=api, CHECK_INTERVAL=CHECK_INTERVAL, check=check, CHECK_FALL=CHECK_FALL,
                    readyz=TEXT(f"{ID}.haproxy", "readyz") if check == "/readyz" else NO_TEXT, lb=lb,
                    STATS_URI=STATS_URI, STATS_USER=STATS_USER, PASSWORD_LENGTH=PASSWORD_LENGTH,
                    password_file=password_file, MASK=MASK),
        shows=(per_node_show(cluster, "haproxy.cfg", {n.name: masked_path(n) for n in cluster.masters}),),
        local=(render(cluster, ID, "config"),),
    )


def keepalived_step(cluster: Cluster) -> Step:
    api, lb = cluster.spec.api_server, cluster.spec.load_balancer
    ranked = priorities(cluster)
    order = enumeration(f"{n.name}={p}" for n, p in ranked)
    first = ranked[0][0].name
    track = track_command(cluster)
    return Step(
        **TEXT.step(f"{ID}.keepalived", vip=vip_prefix(cluster), lb=lb, first=first, track=track, api=api,
                    order=order),
        shows=(per_node_show(cluster, "keepalived.conf",
                             {n.name: on_node(n, KEEPALIVED_CONF) for n in cluster.masters}),),
        local=(render(cluster, ID, "config"),),
    )


def distribute_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    return Step(
        **TEXT.step(f"{ID}.distribute", HAPROXY_CFG=HAPROXY_CFG, KEEPALIVED_CONF=KEEPALIVED_CONF),
        per_node=for_each_master(cluster, lambda node: [
            push(cluster, node, [HAPROXY_CFG, KEEPALIVED_CONF]),
            on(cluster, node, f"{s}stat -c %a:%n {HAPROXY_CFG}", expect=rf"^600:{HAPROXY_CFG}$",
               example=f"600:{HAPROXY_CFG}"),
        ]),
    )


def validate_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    return Step(
        **TEXT.step(f"{ID}.validate"),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node, f"{s}haproxy -c -f {HAPROXY_CFG}", expect=r"Configuration file is valid",
               example="Configuration file is valid"),
            on(cluster, node, f"{s}keepalived -t -f {KEEPALIVED_CONF} && echo keepalived.conf: valid",
               expect=r"^keepalived.conf: valid$", example="keepalived.conf: valid"),
        ]),
    )


def start_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    return Step(
        **TEXT.step(f"{ID}.start"),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node, f"{s}systemctl enable haproxy keepalived && {s}systemctl restart haproxy && "
                              f"{s}systemctl restart keepalived"),
        ]),
    )


def status_step(cluster: Cluster) -> Step:
    api, lb = cluster.spec.api_server, cluster.spec.load_balancer
    return Step(
        **TEXT.step(f"{ID}.status", api=api, lb=lb),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node, "systemctl is-active haproxy keepalived", expect=r"\Aactive\nactive\s*\Z",
               example="active\nactive"),
            on(cluster, node, f"ss -ltn sport = :{api.port}", expect=rf"^LISTEN\s.*:{api.port}\s",
               example=f"LISTEN 0      4096         0.0.0.0:{api.port}      0.0.0.0:*"),
            on(cluster, node, f"ss -ltn sport = :{lb.stats_port}", expect=rf"^LISTEN\s.*:{lb.stats_port}\s",
               example=f"LISTEN 0      4096         0.0.0.0:{lb.stats_port}      0.0.0.0:*"),
        ]),
    )


