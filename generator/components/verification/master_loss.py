"""Losing a whole master: every service of the VIP holder stops; the VIP, the API and both leader locks must
carry on with the other masters, the smoke Deployment must still be there; then the master comes back."""

from __future__ import annotations

import shlex

from generator import daemons
from generator.components import leader
from generator.components.admin.files import kubectl
from generator.components.load_balancer.service import enabled as load_balancer_enabled
from generator.components.load_balancer.shell import holder_functions, names_pattern
from generator.components.verification.smoke import DEPLOYMENT
from generator.model import Cluster
from generator.steps import Command, Script, Step, script_header, scripts_dir, sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)

WAIT = 90  # seconds for each phase: losing the master, and bringing it back
POLL = "0.5"


def master_services(cluster: Cluster) -> list[str]:
    """A master's services in the order they start (etcd before the apiserver, the apiserver before its clients)."""
    return [s.unit for s in daemons.start_order(daemons.on_node(cluster, cluster.masters[0]))]


def leaders(cluster: Cluster) -> list[tuple[str, str, str]]:
    """(shell function, label, query) per elected service, the scheduler's first: the order of the lines that run
    records and the lab's tests read."""
    return [(s.election.shell, s.election.label,
             leader.leader_name(cluster, s.unit, s.election.lock(cluster).from_lease))
            for s in reversed(daemons.elected(cluster)) if s.election]


def elapsed(name: str, start: str, end: str) -> str:
    return f"awk -v a=\"${start}\" -v b=\"${end}\" 'BEGIN {{ printf \"measured: {name}=%.3f\\n\", b - a }}'"


def loss_script(cluster: Cluster) -> Script | None:
    """`master-loss.sh`: the drill's logic (holders, leaders, timing, recovery), shown once on the scripts page."""
    if not cluster.masters or not load_balancer_enabled(cluster):
        return None
    s = sudo(cluster)
    k = kubectl(cluster)
    services = master_services(cluster)
    elected = leaders(cluster)
    held = " && ".join(f'[ -n "${shell}_now" ] && [ "${shell}_now" != "$lost" ]' for shell, _, _ in elected)
    # All at once, as a shutdown does: one `systemctl stop a b c` would stop them one after another.
    stop = f"for unit in {' '.join(reversed(services))}; do {s}systemctl stop $unit & done; wait"
    start = f"{s}systemctl start {' '.join(services)}"
    active = f"systemctl is-active {' '.join(services)} | grep -vxc active"
    states = f"systemctl is-active {' '.join(services)} | xargs"
    return Script("master-loss.sh", **TEXT.fields("script.master-loss", WAIT=WAIT), body="\n".join([
        *script_header("master-loss.sh: stop every service of the VIP holder, time the takeover, start them again"),
        *holder_functions(cluster),
        *(f"{shell}() {{ {query}; }} 2>/dev/null" for shell, _, query in elected),
        'lost=$(holders); [ "$(echo $lost | wc -w)" -eq 1 ] || { echo "the VIP must be on one master"; exit 1; }',
        'echo "losing $lost (VIP holder); '
        + "; ".join(f"{label} leader: $({shell})" for shell, label, _ in elected) + '"',
        "t0=$(date +%s.%N)",
        f"on_node \"$lost\" {shlex.quote(stop)} & stopping=$!",
        f"end=$((SECONDS + {WAIT}))",
        'until new=$(holders); [ -n "$new" ] && ! grep -qx "$lost" <<< "$new" || [ $SECONDS -ge $end ]; '
        f"do sleep {POLL}; done",
        "t_vip=$(date +%s.%N)",
        f"until {k} get --raw /version >/dev/null 2>&1 || [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        "t_api=$(date +%s.%N)",
        "until " + "; ".join(f"{shell}_now=$({shell})" for shell, _, _ in elected) + f"; {held} "
        f"|| [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        "t_leases=$(date +%s.%N)",
        "wait $stopping",
        'echo "VIP now on: $new"',
        'echo "' + "; ".join(f"{label} leader: ${shell}_now" for shell, label, _ in elected) + '"',
        f"{k} get deployment {DEPLOYMENT} -o name",
        elapsed("master_loss_vip_seconds", "t0", "t_vip"),
        elapsed("master_loss_api_seconds", "t0", "t_api"),
        elapsed("master_loss_leases_seconds", "t0", "t_leases"),
        'ok=yes; [ -n "$new" ] && ! grep -qx "$lost" <<< "$new" || ok=no',
        f"{held} || ok=no",
        'echo "control plane without $lost: $ok"',
        "t1=$(date +%s.%N)",
        f"on_node \"$lost\" {shlex.quote(start)}",
        f"end=$((SECONDS + {WAIT}))",
        f"until [ \"$(on_node \"$lost\" {shlex.quote(active)})\" = 0 ] && {k} get --raw /readyz >/dev/null 2>&1 "
        f"&& [ \"$(holders | wc -w)\" -eq 1 ] || [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        "t2=$(date +%s.%N)",
        f"echo \"services on $lost after recovery: $(on_node \"$lost\" {shlex.quote(states)})\"",
        elapsed("master_recovery_seconds", "t1", "t2"),
        '[ "$ok" = yes ]',
    ]), directory=scripts_dir(cluster))


def master_loss_step(cluster: Cluster) -> Step:
    services = ", ".join(master_services(cluster))
    script = loss_script(cluster)
    assert script is not None, "a master-loss drill without a load balancer"
    return Step(
        **TEXT.step("verification.master-loss", services=services, POLL=POLL, WAIT=WAIT, DEPLOYMENT=DEPLOYMENT),
        local=(Command(script.call(), expect=(
            rf"\A(?=[\s\S]*^control plane without {names_pattern(cluster)}: yes$)"
            rf"(?=[\s\S]*^deployment\.(apps|extensions)/{DEPLOYMENT}$)"), example=(
            f"control plane without {cluster.masters[0].name}: yes\nmeasured: master_loss_api_seconds=12.663\n"
            f"deployment.apps/{DEPLOYMENT}\nmeasured: master_recovery_seconds=16.018")),),
        needs_kube_binaries=True,
    )
