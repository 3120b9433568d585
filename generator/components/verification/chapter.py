"""Cluster verification: every control-plane service up, reachable through the API endpoint, leaders elected."""

from __future__ import annotations

import re
import shlex

from generator import daemons
from generator.artifacts import Artifact
from generator.components import leader, rollout
from generator.components.admin.files import kubectl
from generator.components.etcd.checks import etcd_ca, etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.etcd.files import client_url
from generator.components.kube_apiserver.facts import facts as apiserver_facts
from generator.components.load_balancer.service import enabled as load_balancer_enabled
from generator.components.verification import cis, rehearsal, rehearsal_files
from generator.components.verification.master_loss import master_loss_step
from generator.components.verification.smoke import cleanup_step, smoke_step
from generator.components.verification.systemd import crash_step, reboot_step
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, for_each, on, pki_file
from generator.text import Texts
from generator.versions import Timeline

TEXT = Texts.of_component(__file__)

ID = "verification"


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return [*cis.artifacts(ctx), *rehearsal_files.artifacts(ctx)]


def services_step(cluster: Cluster) -> Step:
    def check(node: Node) -> list[Command]:
        names = [s.unit for s in daemons.on_node(cluster, node)]
        return [on(cluster, node, f"systemctl {verb} {' '.join(names)}", expect=rf"\A(?:{state}\n){{{len(names)}}}\Z",
                   example=f"{state}\n" * len(names)) for verb, state in (("is-enabled", "enabled"),
                                                                        ("is-active", "active"))]

    return Step(
        **TEXT.step("verification.services"),
        per_node=for_each(cluster.spec.nodes, check),
        needs_kube_binaries=True,
    )


def admin_curl(cluster: Cluster, url: str) -> str:
    return shlex.join(["curl", "-sS", "--fail", "--cacert", pki_file(cluster, "ca.pem"),
                       "--cert", pki_file(cluster, "admin.pem"), "--key", pki_file(cluster, "admin-key.pem"), url])


def apiservers_step(cluster: Cluster) -> Step:
    port = cluster.spec.api_server.secure_port
    tag = re.escape(cluster.release.tag)
    return Step(
        **TEXT.step("verification.apiservers", port=port, cluster=cluster),
        per_node=for_each(cluster.masters, lambda node: [
            Command(admin_curl(cluster, f"https://{node.host}:{port}/version"), expect=rf'"gitVersion": "{tag}"',
                    example=f'  "gitVersion": "{cluster.release.tag}",'),
        ]),
        needs_kube_binaries=True,
    )


# `kubectl get componentstatuses` probes the scheduler and the controller manager on 127.0.0.1 of the answering
# apiserver's node: up to 1.21 their insecure ports (10251/10252), which this runbook keeps on loopback; from 1.22
# (controller manager) and 1.23 (scheduler) their secure ports (pkg/registry/core/rest/storage_core.go of each
# release). It is deprecated since 1.19: the runbook reads it only while the insecure ports answer it.
COMPONENTSTATUSES_TRUTHFUL = Timeline(((1, 12), True), ((1, 22), False))


def ready_step(cluster: Cluster) -> Step:
    f = apiserver_facts(cluster.release)
    k = kubectl(cluster)
    commands: list[Command] = []
    if f.has_readyz:
        commands.append(Command(f"{k} get --raw={shlex.quote('/readyz?verbose')}", expect=rf"^{f.ready_verdict}$",
                                example=f"[+]ping ok\n[+]etcd ok\n{f.ready_verdict}"))
        readiness = TEXT("verification.ready", "readiness-readyz", cluster=cluster, f=f)
    else:
        readiness = TEXT("verification.ready", "readiness-healthz")
    if COMPONENTSTATUSES_TRUTHFUL.at(cluster.release):
        # componentstatuses names the elected services as their label does ("scheduler")
        lookahead = "".join(rf"(?=[\s\S]*^{s.election.label} Healthy=True$)" for s in daemons.elected(cluster)
                            if s.election)
        query = shlex.quote('jsonpath={range .items[*]}{.metadata.name} {.conditions[0].type}='
                            '{.conditions[0].status}{"\\n"}{end}')
        commands.append(Command(f"{k} get componentstatuses -o {query}",
                                expect=rf"\A(?![\s\S]*=False$){lookahead}",
                                example="scheduler Healthy=True\ncontroller-manager Healthy=True\netcd-0 Healthy=True"))
        statuses = TEXT("verification.ready", "statuses-read")
    else:
        statuses = TEXT("verification.ready", "statuses-skipped")
    return Step(
        **TEXT.step("verification.ready", readiness=readiness, statuses=statuses),
        local=tuple(commands),
        needs_kube_binaries=True,
    )


def leaders_step(cluster: Cluster) -> Step:
    # Every elected service takes its default lock from the same client-go defaults, so one era holds for all.
    locks = [(s.unit, s.election.lock(cluster).from_lease) for s in daemons.elected(cluster) if s.election]
    from_lease = locks[0][1]
    names = leader.names_pattern(cluster)
    expect = rf"^{names}_" if from_lease else rf"\"holderIdentity\":\"{names}_"
    where = TEXT("verification.leaders", "where-lease" if from_lease else "where-endpoints")
    return Step(
        **TEXT.step("verification.leaders", where=where),
        local=tuple(Command(leader.leader_query(cluster, unit, lease), expect=expect,
                            example=leader.leader_example(cluster, lease)) for unit, lease in locks),
        needs_kube_binaries=True,
    )


def etcd_step(cluster: Cluster) -> Step:
    f = etcd_facts(cluster.spec.components.etcd.version)
    node = runner(cluster)
    every = "".join(rf"(?=[\s\S]*^{re.escape(client_url(n))} is healthy)" for n in cluster.etcd_members)
    ca = etcd_ca(cluster)
    return Step(
        **TEXT.step("verification.etcd", node=node, members=len(cluster.etcd_members), ca=ca,
                    ca_file=EtcdPaths(cluster).ca),
        per_node=((node, (on(cluster, node, etcdctl(cluster, f, "endpoint", "health"),
                             expect=rf"\A{every}", example="\n".join(
                                 f"{client_url(n)} is healthy: successfully committed proposal: took = 2.1ms"
                                 for n in cluster.etcd_members)),)),),
    )


def certificates_step(cluster: Cluster) -> Step:
    renew = cluster.spec.certificates.renew_before_days
    return Step(
        **TEXT.step("verification.certificates", cluster=cluster, renew=renew),
        local=(Command(shlex.join(["invoke", "certs", "--cluster", cluster.ref]),
                       expect=r"^certs: all \d+ certificates and kubeconfigs on the nodes match the ledger$",
                       example="certs: all 33 certificates and kubeconfigs on the nodes match the ledger"),),
    )


def drills(cluster: Cluster) -> list[Step]:
    """A crash and a reboot of a master, each inside a request loop through the API endpoint (HA needs two
    masters: with one, both would take the API away)."""
    if len(cluster.masters) < 2:
        return []
    steps: list[Step] = []
    node = cluster.masters[-1]
    units = [s.unit for s in daemons.on_node(cluster, node)]
    for name, drill in (("crash", crash_step(cluster)), ("reboot", reboot_step(cluster, units))):
        steps += [rollout.request_loop_start(cluster, ID, name), drill, rollout.request_loop_stop(cluster, ID, name)]
    return steps


def chapter(cluster: Cluster) -> Chapter:
    return Chapter(
        **TEXT.chapter("verification"),
        number=9,
        steps=(
            services_step(cluster), apiservers_step(cluster), ready_step(cluster), leaders_step(cluster),
            etcd_step(cluster), certificates_step(cluster), smoke_step(cluster),
            *([master_loss_step(cluster)] if load_balancer_enabled(cluster) else []),
            *drills(cluster),
            *cis.steps(cluster),
            *rehearsal.steps(cluster),
            cleanup_step(cluster),
        ),
    )
