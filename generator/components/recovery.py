"""Steps every recovery chapter shares (restore, quorum-loss, rebuild): stop the control plane and etcd, noting the
time; start the control plane again; wait for `/readyz` through the API endpoint and measure the recovery time from
the first destructive step (`<chapter>_rto_seconds`); the etcd cluster IDs the members report."""

from __future__ import annotations

from generator import daemons
from generator.artifacts import rel_build
from generator.components.admin.files import kubectl
from generator.components.etcd.checks import etcdctl
from generator.components.etcd.facts import EtcdFacts
from generator.components.prerequisites.nodes import on_node_function
from generator.model import Cluster
from generator.steps import Command, Step, for_each_master, on, remote, ssh_prefix, sudo
from generator.text import Texts

TEXT = Texts.of_module(__file__)
WAIT = 180  # seconds the control plane may take to answer again once etcd is back
POLL = "0.5"


def control_plane_units(cluster: Cluster) -> list[str]:
    """The services from the Kubernetes release, in start order."""
    return [s.unit for s in daemons.start_order(daemons.running(cluster)) if s.binaries]


def started_file(cluster: Cluster, chapter: str) -> str:
    """Where the first destructive step notes its time on the workstation: the recovery time is measured from it."""
    return f"{rel_build(cluster)}/{chapter}/started"


def note_start(cluster: Cluster, chapter: str) -> list[str]:
    """Shell: note now as the recovery's start, unless an earlier run of the chapter did (a re-run after a failure
    keeps measuring from the first destructive step)."""
    started = started_file(cluster, chapter)
    return [f"mkdir -p {rel_build(cluster)}/{chapter}", f"[ -s {started} ] || date +%s.%N > {started}"]


def stop_script(cluster: Cluster, chapter: str) -> str:
    s = sudo(cluster)
    units = " ".join(reversed(control_plane_units(cluster)))
    lines = [*on_node_function(cluster), *note_start(cluster, chapter)]
    lines += [f"on_node {n.name} '{s}systemctl stop {units}' &" for n in cluster.masters]
    lines += ["wait"]
    lines += [f"{ssh_prefix(cluster, n)} '{s}systemctl stop etcd' &" for n in cluster.etcd_members]
    lines += ["wait"]
    states = f"systemctl is-active etcd {units} | xargs"
    lines += [f"echo \"{n.name}: $({remote(cluster, n, states)})\"" for n in cluster.control_plane]
    return "\n".join(lines)


def stop_step(cluster: Cluster, chapter: str) -> Step:
    units = control_plane_units(cluster)
    return Step(
        **TEXT.step("stop", f"{chapter}.stop", units=", ".join(units)),
        local=(Command(stop_script(cluster, chapter), expect=r"\A(?![\s\S]*\bactive\b)",
                       example="\n".join(f"{n.name}: inactive inactive inactive inactive"
                                         for n in cluster.control_plane)),),
    )


def cluster_ids(cluster: Cluster, f: EtcdFacts) -> str:
    """Shell on a member: the distinct etcd cluster IDs the members report (one, or a split brain)."""
    status = etcdctl(cluster, f, "--command-timeout=3s", "endpoint", "status", "-w", "json")
    return f"{status} | grep -o '\"cluster_id\":[0-9]*' | sort -u | cut -d: -f2 | xargs"


def start_control_plane_step(cluster: Cluster, chapter: str) -> Step:
    s = sudo(cluster)
    units = control_plane_units(cluster)
    return Step(
        **TEXT.step("start-control-plane", f"{chapter}.start-control-plane", units=", ".join(units)),
        per_node=for_each_master(cluster, lambda n: [
            on(cluster, n, f"{s}systemctl start {' '.join(units)} && systemctl is-active {' '.join(units)} | xargs",
               expect=rf"^{' '.join(['active'] * len(units))}$", example=" ".join(["active"] * len(units))),
        ]),
    )


def rto_figure(chapter: str) -> str:
    return f"{chapter.replace('-', '_')}_rto_seconds"


def verify_script(cluster: Cluster, chapter: str) -> str:
    k = kubectl(cluster)
    started = started_file(cluster, chapter)
    return "\n".join([
        f"end=$((SECONDS + {WAIT}))",
        f"until {k} get --raw /readyz >/dev/null 2>&1 || [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        f'echo "/readyz through the endpoint: $({k} get --raw /readyz 2>&1)"',
        f"[ -s {started} ] && awk -v a=\"$(cat {started})\" -v b=\"$t1\" "
        f"'BEGIN {{ printf \"measured: {rto_figure(chapter)}=%.3f\\n\", b - a }}' && rm -f {started}",
        f"{k} get namespaces -o name | wc -l | xargs echo namespaces:",
    ])


def verify_step(cluster: Cluster, chapter: str) -> Step:
    return Step(
        **TEXT.step("verify", f"{chapter}.verify", wait=WAIT, figure=rto_figure(chapter)),
        local=(Command(verify_script(cluster, chapter), expect=r"^/readyz through the endpoint: ok$",
                       example=f"/readyz through the endpoint: ok\nmeasured: {rto_figure(chapter)}=41.207\n"
                               "namespaces: 4"),),
        needs_kube_binaries=True,
    )
