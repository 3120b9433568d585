"""The kube-scheduler chapter: from certificate to failover test. Its prose is in text.yaml; the steps it shares
with kube-controller-manager are generator/components/elected.py's."""

from __future__ import annotations

import shlex

from generator.artifacts import on_node
from generator.components import elected, leader
from generator.components.daemon import anonymous_refused_on, on_loopback, through_tunnel
from generator.components.elected import node_file
from generator.components.kube_scheduler.facts import SchedulerFacts, facts
from generator.components.kube_scheduler.files import ID, USER, Paths, artifacts
from generator.components.kube_scheduler.service import SERVICE
from generator.components.prerequisites.files import workstation_kubectl
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Show, Step, for_each_master, render
from generator.text import NO_TEXT, Text, Texts

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists
TEXT = Texts.of_component(__file__)


def component(cluster: Cluster) -> elected.Elected:
    paths = Paths(cluster)
    setting = cluster.spec.components.kube_scheduler.kubeconfig_server
    return elected.Elected(SERVICE, USER, TEXT, paths, (paths.key,), setting)


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.release)
    e = component(cluster)
    return Chapter(
        **TEXT.chapter(ID, cluster=cluster, f=f, masters=len(cluster.masters)),
        number=8,
        steps=elected.steps(cluster, e, {"serving": serving(f)}, config=(config_step(cluster, f),),
                            checks=(health_step(cluster, f), metrics_step(cluster, f), permissions_step(cluster, f))),
    )


def per_node_show(cluster: Cluster, name: str, lang: str, absolute: str) -> Show:
    return Show(name, lang, tuple((n.name, on_node(n, absolute)) for n in cluster.masters))


def config_step(cluster: Cluster, f: SchedulerFacts) -> Step:
    name_key, _ = f.lock_name_keys
    client = cluster.spec.components.kube_scheduler.client_connection
    return Step(
        **TEXT.step(f"{ID}.config", cluster=cluster, f=f, name_key=name_key, election=leader.timings(cluster, SERVICE),
                    client=TEXT(f"{ID}.config", "client", qps=client.qps, burst=client.burst)),
        shows=(per_node_show(cluster, "kube-scheduler.yaml", "yaml", Paths(cluster).config),),
        local=(render(cluster, ID, "config"),),
    )

def serving(f: SchedulerFacts) -> Text:
    """How this release's scheduler serves /healthz and /metrics, as its unit's explanation says it."""
    if not f.secure_port:
        return TEXT(f"{ID}.unit", "serving-insecure", f=f)
    secure = TEXT(f"{ID}.unit", "serving-secure", f=f)
    return secure + TEXT(f"{ID}.unit", "serving-insecure-loopback", f=f) if f.insecure_loopback else secure


def base_url(node: Node, f: SchedulerFacts) -> str:
    """Before the secure port (1.13), health and metrics are plain HTTP on every address."""
    return f"http://{node.host}:{f.insecure_port}"


def health_step(cluster: Cluster, f: SchedulerFacts) -> Step:
    paths = ", ".join(f"`{p}`" for p in f.health_paths)
    verified = TEXT(f"{ID}.health", "verified") if f.secure_port else NO_TEXT

    def check(node: Node, path: str) -> Command:
        if f.secure_port:
            return on_loopback(cluster, node, f.secure_port, path, expect=r"^ok$", example="ok")
        return Command(shlex.join(["curl", "-sS", "--fail", base_url(node, f) + path]), expect=r"^ok$", example="ok")

    where = TEXT(f"{ID}.health", "where-loopback" if f.secure_port else "where-workstation")
    return Step(
        **TEXT.step(f"{ID}.health", paths=paths, verified=verified, where=where),
        per_node=for_each_master(cluster, lambda node: [check(node, path) for path in f.health_paths]),
        needs_kube_binaries=True,
    )


def metrics_step(cluster: Cluster, f: SchedulerFacts) -> Step:
    def commands(node: Node) -> list[Command]:
        example = ("# HELP apiserver_audit_event_total [ALPHA] Counter of audit events generated and sent to the "
                   "audit backend.")
        if not f.secure_port:
            return [Command(f"curl -sS --fail {base_url(node, f)}/metrics | awk 'NR<=5'",
                            expect=r"^# (HELP|TYPE) ", example=example)]
        return [anonymous_refused_on(cluster, node, f.secure_port, "/metrics"),
                Command(f"{through_tunnel(cluster, node, f.secure_port, '/metrics')} | awk 'NR<=5'",
                        expect=r"^# (HELP|TYPE) ", example=example)]

    return Step(
        **TEXT.step(f"{ID}.metrics", how=TEXT(f"{ID}.metrics", "how-secure" if f.secure_port else "how-insecure")),
        per_node=for_each_master(cluster, commands),
        needs_kube_binaries=True,
    )


def permissions_step(cluster: Cluster, f: SchedulerFacts) -> Step:
    """What the scheduler's own credentials may do, asked of the apiserver with its kubeconfig."""
    config = node_file(cluster, cluster.masters[0], Paths(cluster).kubeconfig)
    k = shlex.join([workstation_kubectl(cluster), "--kubeconfig", config])
    lock = f"{'leases' if f.leader_from_lease else 'endpoints'}/{ID}"
    return Step(
        **TEXT.step(f"{ID}.permissions", user=USER, lock=lock),
        local=(
            Command(f"{k} auth can-i get {lock} -n kube-system", expect=r"^yes$", example="yes"),
            Command(f"{k} auth can-i update {lock} -n kube-system", expect=r"^yes$", example="yes"),
            Command(f"{k} auth can-i list secrets --all-namespaces || true", expect=r"^no$", example="no"),
        ),
        needs_kube_binaries=True,
    )
