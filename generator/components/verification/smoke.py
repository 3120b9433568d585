"""The seeds' smoke test: a Deployment through the API endpoint, its ReplicaSet and Pods, and the scheduler's
FailedScheduling event (a control plane without nodes cannot place a Pod). Then, separately, its removal."""

from __future__ import annotations

import shlex

from generator import daemons
from generator.components import leader
from generator.components.admin.files import kubectl
from generator.model import Cluster
from generator.steps import Command, Step
from generator.text import Texts

TEXT = Texts.of_component(__file__)

DEPLOYMENT = "runbook-smoke"
IMAGE = "nginx"
WAIT = 60  # seconds for the ReplicaSet, the Pods and the event to appear


def jsonpath(template: str) -> str:
    return shlex.quote(f"jsonpath={template}")


def smoke_script(cluster: Cluster) -> str:
    k = kubectl(cluster)
    label = f"-l app={DEPLOYMENT}"
    pods = jsonpath('{range .items[*]}pod {.metadata.name}: {.status.phase}{"\\n"}{end}')
    events = jsonpath('{range .items[*]}{.reason} {.involvedObject.name} by {.source.component}'
                      '{.reportingComponent} {.reportingInstance}: {.message}{"\\n"}{end}')
    names = jsonpath('{range .items[*]}{.metadata.name}{"\\n"}{end}')
    scheduler = daemons.KUBE_SCHEDULER  # the one that records FailedScheduling
    assert scheduler.election is not None
    from_lease = scheduler.election.lock(cluster).from_lease
    return "\n".join([
        f"{k} delete deployment {DEPLOYMENT} --ignore-not-found",
        f"{k} create deployment {DEPLOYMENT} --image={IMAGE}",
        f"end=$((SECONDS + {WAIT}))",
        f"until rs=$({k} get replicasets {label} -o {jsonpath('{.items[0].metadata.name}')} 2>/dev/null) "
        '&& [ -n "$rs" ] || [ $SECONDS -ge $end ]; do sleep 0.5; done',
        'echo "replicaset: $rs"',
        f'until grep -q Pending <<< "$({k} get pods {label} -o {pods})" || [ $SECONDS -ge $end ]; do sleep 0.5; done',
        f"{k} get pods {label} -o {pods}",
        # Events outlive their objects (an hour by default): only this run's Pods count.
        f"names=$({k} get pods {label} -o {names})",
        f"until found=$({k} get events --field-selector reason=FailedScheduling -o {events} | "
        'grep -F "$names") || [ $SECONDS -ge $end ]; do sleep 1; done',
        'head -n 1 <<< "$found"',
        f'echo "scheduler leader: $({leader.leader_name(cluster, scheduler.unit, from_lease)})"',
    ])


def smoke_step(cluster: Cluster) -> Step:
    return Step(
        **TEXT.step("verification.smoke", DEPLOYMENT=DEPLOYMENT, IMAGE=IMAGE, WAIT=WAIT),
        local=(Command(smoke_script(cluster), expect=(
            rf"\A(?=[\s\S]*^replicaset: {DEPLOYMENT}-\S+$)(?=[\s\S]*^pod {DEPLOYMENT}-\S+: Pending$)"
            rf"(?=[\s\S]*^FailedScheduling {DEPLOYMENT}-\S+ by default-scheduler)"), example=(
            f"replicaset: {DEPLOYMENT}-7c5ddbdf54\npod {DEPLOYMENT}-7c5ddbdf54-x2x9k: Pending\n"
            f"FailedScheduling {DEPLOYMENT}-7c5ddbdf54-x2x9k by default-scheduler: 0/0 nodes are available")),),
        needs_kube_binaries=True,
    )


def cleanup_step(cluster: Cluster) -> Step:
    k = kubectl(cluster)
    return Step(
        **TEXT.step("verification.cleanup", DEPLOYMENT=DEPLOYMENT),
        local=(Command(f"{k} delete deployment {DEPLOYMENT} --ignore-not-found"),),
        needs_kube_binaries=True,
    )
