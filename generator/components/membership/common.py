"""Steps the joining and the leaving order share: the plan, the other masters' rolling update, and the checks of
etcd's member list and of the load balancer that end both."""

from __future__ import annotations

import re
import shlex

from generator import daemons, day2
from generator.components import planned, rollout
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.etcd.files import client_url
from generator.components.kube_apiserver.files import ID as APISERVER
from generator.components.load_balancer.shell import backend_status_function, holder_functions, names_pattern
from generator.model import Cluster, Node
from generator.service import Service
from generator.steps import Command, Step, on, pki_file, remote
from generator.text import Texts, enumeration

TEXT = Texts.of_component(__file__)

ID = day2.MEMBERSHIP
LB_WAIT = 30  # seconds for haproxy to see a backend UP (rise 2 × 2 s) and keepalived to settle


def changed(cluster: Cluster) -> Node:
    """The node that joins or leaves (the checks allow one per change)."""
    return (*day2.joining(cluster), *day2.leaving(cluster))[0]


def staying(cluster: Cluster) -> tuple[Node, ...]:
    """The masters that run before and after the change, in file order."""
    return tuple(n for n in cluster.masters if n not in day2.joining(cluster))


def plan_step(cluster: Cluster) -> Step:
    node = changed(cluster)
    joins = node in day2.joining(cluster)
    cert = pki_file(cluster, f"{APISERVER}.pem")
    ip = re.escape(node.ip)
    shown = f"X509v3 Subject Alternative Name: \n    DNS:kubernetes, IP Address:{staying(cluster)[0].ip}"
    if joins:
        expect, example = rf"IP Address:{ip}(,|$)", f"{shown}, IP Address:{node.ip}"
    else:
        expect, example = rf"\A(?![\s\S]*IP Address:{ip}(,|$))[\s\S]*Subject Alternative Name", shown
    san = Command(shlex.join(["openssl", "x509", "-in", cert, "-noout", "-ext", "subjectAltName"]), expect=expect,
                  example=example)
    side = "join" if joins else "leave"
    return planned.plan_step(
        cluster, ID,
        TEXT("membership.plan", "title"),
        TEXT("membership.plan", "explain", node=node, verb=TEXT(ID, f"verb-{side}"),
             names=TEXT("membership.plan", f"names-{side}")),
        checks=(san,),
    )


def rolling_step(cluster: Cluster) -> Step:
    """The masters that stay: new certificates, units (etcd servers), haproxy backends and keepalived peers."""
    def action(service: Service) -> str:
        if service is daemons.ETCD:
            return rollout.PUSH  # its unit changes only in --initial-cluster, read while the data directory is empty
        return rollout.RELOAD if service.reload else rollout.RESTART

    def changes(node: Node) -> list[rollout.Change]:
        services = daemons.start_order(daemons.on_node(cluster, node))
        return [rollout.change(cluster, node, s, action(s)) for s in services]

    return rollout.rolling_step(
        cluster, f"{ID}.rolling",
        TEXT("membership.rolling", "title"),
        TEXT("membership.rolling", "explain"),
        staying(cluster), changes, "membership",
    )


def members_step(cluster: Cluster) -> Step:
    f = etcd_facts(cluster.spec.components.etcd.version)
    node = runner(cluster)
    names = sorted(n.name for n in cluster.etcd_members)
    # the list is read on the node and tallied here, so the awk program is quoted once
    listing = (f"{remote(cluster, node, etcdctl(cluster, f, 'member', 'list'))} | "
               "awk -F ', ' '{print $3 \"=\" $2}' | sort | paste -sd ' '")
    want = " ".join(f"{name}=started" for name in names)
    return Step(
        **TEXT.step("membership.etcd-members", count=len(names),
                    names=enumeration(names)),
        per_node=((node, (
            Command(listing, expect=rf"^{re.escape(want)}$", example=want),
            on(cluster, node, etcdctl(cluster, f, "endpoint", "health"), expect=r"is healthy",
               example=f"{client_url(node)} is healthy: successfully committed proposal: took = 2.1ms"),
        )),),
    )


def load_balancer_step(cluster: Cluster) -> Step:
    masters = cluster.masters
    n = len(masters)
    names = " ".join(m.name for m in masters)
    script = "\n".join([
        *holder_functions(cluster),
        *backend_status_function(cluster),
        f"end=$((SECONDS + {LB_WAIT}))",
        "while :; do",
        f'  up=0; for m in {names}; do for s in {names}; do',
        '    [ "$(backend_status "$m" "$s")" = UP ] && up=$((up + 1)); done; done',
        '  vip=$(holders)',
        f'  [ "$up" -eq {n * n} ] && [ "$(echo $vip | wc -w)" -eq 1 ] && break',
        '  [ $SECONDS -ge $end ] && break; sleep 1',
        "done",
        f'for m in {names}; do echo "haproxy on $m:" $(for s in {names}; do echo "$s=$(backend_status "$m" "$s")"; '
        "done); done",
        f'echo "load balancer: $up of {n * n} backends UP, VIP on:" $vip',
    ])
    return Step(
        **TEXT.step("membership.load-balancer", n=n, LB_WAIT=LB_WAIT),
        local=(Command(script, expect=rf"^load balancer: {n * n} of {n * n} backends UP, VIP on: "
                                      rf"{names_pattern(cluster)}$",
                       example=f"haproxy on {masters[0].name}: " + " ".join(f"{m.name}=UP" for m in masters)
                       + f"\nload balancer: {n * n} of {n * n} backends UP, VIP on: {masters[0].name}"),),
        needs_kube_binaries=True,
    )
