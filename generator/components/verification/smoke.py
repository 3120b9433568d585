"""The seeds' smoke test: a Deployment through the API endpoint, its ReplicaSet and Pods, and the scheduler's
FailedScheduling event (a control plane without nodes cannot place a Pod). Then, separately, its removal."""

from __future__ import annotations

import shlex

from generator.components import leader
from generator.components.admin.files import kubectl
from generator.components.kube_scheduler.facts import facts as scheduler_facts
from generator.model import Cluster
from generator.steps import Command, Step, Text

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
    from_lease = scheduler_facts(cluster.release).leader_from_lease
    return "\n".join([
        f"{k} delete deployment {DEPLOYMENT} --ignore-not-found",
        f"{k} create deployment {DEPLOYMENT} --image={IMAGE}",
        f"end=$((SECONDS + {WAIT}))",
        f"until rs=$({k} get replicasets {label} -o {jsonpath('{.items[0].metadata.name}')} 2>/dev/null) "
        '&& [ -n "$rs" ] || [ $SECONDS -ge $end ]; do sleep 0.5; done',
        'echo "replicaset: $rs"',
        f"until {k} get pods {label} -o {pods} | grep -q Pending || [ $SECONDS -ge $end ]; do sleep 0.5; done",
        f"{k} get pods {label} -o {pods}",
        # Events outlive their objects (an hour by default): only this run's Pods count.
        f"names=$({k} get pods {label} -o {names})",
        f"until found=$({k} get events --field-selector reason=FailedScheduling -o {events} | "
        'grep -F "$names") || [ $SECONDS -ge $end ]; do sleep 1; done',
        'echo "$found" | head -n 1',
        f'echo "scheduler leader: $({leader.leader_name(cluster, "kube-scheduler", from_lease)})"',
    ])


def smoke_step(cluster: Cluster) -> Step:
    return Step(
        id="verification.smoke",
        title=Text(zh="冒烟测试：创建一个 Deployment", en="Smoke test: create a Deployment"),
        explain=Text(
            zh=(
                f"经 API 入口创建 Deployment `{DEPLOYMENT}`（镜像 `{IMAGE}`，和种子文档一样），然后最多等 {WAIT} 秒："
                "kube-controller-manager（leader）为它创建 ReplicaSet 与 Pod；这个集群还没有工作节点，Pod 停在 "
                "`Pending`，kube-scheduler（leader）为它记下 `FailedScheduling` 事件（没有可用的节点）。"
                "三个组件都出现在结果里，说明 apiserver、控制器管理器与调度器协同工作。先删除同名的旧 Deployment，"
                "所以可以重复执行；它留到集群验证的最后一步才删除，中间的整机故障测试还要用到它。"
            ),
            en=(
                f"Create the Deployment `{DEPLOYMENT}` through the endpoint (image `{IMAGE}`, as in the seeds), then "
                f"wait up to {WAIT} s: the kube-controller-manager leader creates its ReplicaSet and Pod; this "
                "cluster has no worker nodes yet, so the Pod stays `Pending` and the kube-scheduler leader records "
                "a `FailedScheduling` event (no nodes available). All three showing up proves apiserver, controller "
                "manager and scheduler work together. An older Deployment of that name is deleted first, so the "
                "step can be re-run; this one stays until the last step of the chapter, because the whole-master "
                "loss test looks for it."
            ),
        ),
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
        id="verification.cleanup",
        title=Text(zh="删除冒烟测试的 Deployment", en="Remove the smoke-test Deployment"),
        explain=Text(
            zh=f"删除 `{DEPLOYMENT}`；它的 ReplicaSet 与 Pod 由垃圾回收（控制器管理器）随之删除。",
            en=f"Delete `{DEPLOYMENT}`; the garbage collector (in the controller manager) removes its ReplicaSet and "
            "Pods with it.",
        ),
        local=(Command(f"{k} delete deployment {DEPLOYMENT} --ignore-not-found"),),
        needs_kube_binaries=True,
    )
