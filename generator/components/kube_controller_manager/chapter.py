"""The kube-controller-manager chapter: certificate, kubeconfig, unit, secure port 10257, leader, failover."""

from __future__ import annotations

import shlex

from generator.artifacts import on_node, rel_build
from generator.components import leader, service
from generator.components.kube_controller_manager.facts import ControllerManagerFacts, facts
from generator.components.kube_controller_manager.files import ID, USER, Paths, artifacts, server_for
from generator.components.service import anonymous_refused, start_step, status_step
from generator.model import Cluster, Node
from generator.steps import (
    Chapter,
    Command,
    Show,
    Step,
    Text,
    for_each_master,
    inspect_cert,
    on,
    pki_file,
    push,
    render,
    subject_line,
    sudo,
    verify_cert,
)

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.release)
    election = cluster.spec.components.kube_controller_manager.leader_election
    return Chapter(
        id=ID,
        number=7,
        title=Text(zh="高可用 kube-controller-manager", en="Highly available kube-controller-manager"),
        intro=Text(
            zh=(
                f"kube-controller-manager 在每台 master 上各运行一个（共 {len(cluster.masters)} 个），通过 leader "
                "选举只让其中一个工作：节点、副本、ServiceAccount、证书签发等控制器都在 leader 里运行。"
                f"本集群为 Kubernetes {cluster.release}，锁类型 `{f.lock}`，锁名 `{ID}`（kube-system）。"
            ),
            en=(
                f"kube-controller-manager runs once on every master ({len(cluster.masters)} instances) and leader "
                "election lets only one of them work: the node, replica, service-account, certificate-signing "
                f"and other controllers all run in the leader. This cluster runs Kubernetes {cluster.release}: "
                f"lock type `{f.lock}`, lock name `{ID}` in kube-system."
            ),
        ),
        steps=(
            cert_step(cluster),
            kubeconfig_step(cluster),
            kubeconfig_check_step(cluster),
            unit_step(cluster, f),
            distribute_step(cluster),
            start_step(cluster, ID, Paths(cluster).binary,
                       Text(zh="，kube-apiserver 已就绪", en=" and kube-apiserver ready")),
            status_step(cluster, ID),
            health_step(cluster, f),
            leader.leader_step(cluster, ID, f.leader_from_lease),
            leader.failover_step(cluster, ID, f.leader_from_lease, election, f.releases_lock_on_stop),
        ),
    )


def node_file(cluster: Cluster, node: Node, absolute: str) -> str:
    return f"{rel_build(cluster)}/{on_node(node, absolute)}"


def cert_step(cluster: Cluster) -> Step:
    return Step(
        id=f"{ID}.cert",
        title=Text(zh="签发 kube-controller-manager 证书", en="Issue the kube-controller-manager certificate"),
        explain=Text(
            zh=(
                f"kube-controller-manager 以用户 `{USER}` 访问 kube-apiserver：证书 CN 与 O 都是 `{USER}`，内置的 "
                f"ClusterRoleBinding `{USER}` 授予它需要的权限（包括名为 `{ID}` 的 leader 锁）。同一张证书也是 10257 "
                "安全端口的服务端证书，所以同时带 clientAuth 与 serverAuth，SAN 里有 127.0.0.1 和每台 master 的 "
                "IP 与主机名。"
            ),
            en=(
                f"kube-controller-manager talks to kube-apiserver as `{USER}`: the certificate's CN and O are both "
                f"`{USER}`, and the built-in ClusterRoleBinding `{USER}` grants what it needs (the leader lock "
                f"named `{ID}` included). The same certificate serves the secure port 10257, so it has clientAuth "
                "and serverAuth, with 127.0.0.1 and every master's IP and host name as SANs."
            ),
        ),
        warnings=(
            Text(
                zh=f"CN 必须是 `{USER}`，否则日志反复出现 `... is forbidden: User \"...\" cannot get resource "
                "\"leases\"`，永远选不出 leader。",
                en=f"The CN must be `{USER}`; with any other the log repeats `... is forbidden: User \"...\" cannot "
                "get resource \"leases\"` and no leader is ever elected.",
            ),
        ),
        shows=(Show(f"{ID}-csr.json", "json", (("", f"pki/{ID}-csr.json"),)),),
        local=(
            render(cluster, ID, "cert"),
            verify_cert(cluster, ID),
            inspect_cert(cluster, ID, rf"CN ?= ?{USER}", subject_line(cluster, USER, USER)),
        ),
    )


def kubeconfig_step(cluster: Cluster) -> Step:
    local = cluster.spec.components.kube_controller_manager.kubeconfig_server == "local"
    server_zh = ("本机的 kube-apiserver（kubeadm 的做法），每台 master 的文件不同" if local
                 else f"负载均衡入口 `{cluster.api_endpoint}`，任何一台 apiserver 宕机都不影响它")
    server_en = ("this master's own kube-apiserver (as kubeadm does), so each master's file differs" if local
                 else f"the load-balanced endpoint `{cluster.api_endpoint}`, so losing one apiserver does not "
                 "stop it")
    path = Paths(cluster).kubeconfig
    return Step(
        id=f"{ID}.kubeconfig",
        title=Text(zh="生成 kubeconfig", en="Build the kubeconfig"),
        explain=Text(
            zh=(
                f"kubeconfig 内嵌 CA、证书与私钥，用户 `{USER}`，server 指向{server_zh}。同一个文件也传给 "
                "`--authentication-kubeconfig` 与 `--authorization-kubeconfig`：没有它们，10257 上除健康检查外的"
                "请求都会被拒绝。文件含私钥，权限 0600，下面逐台检查。"
            ),
            en=(
                f"The kubeconfig embeds the CA, the certificate and the key, user `{USER}`; its server is "
                f"{server_en}. The same file goes to `--authentication-kubeconfig` and "
                "`--authorization-kubeconfig`: without them every request to 10257 but the health checks is "
                "refused. It holds a private key: mode 0600, checked on each master's copy."
            ),
        ),
        local=(render(cluster, ID, "kubeconfig"),),
        per_node=for_each_master(cluster, lambda node: [
            Command(shlex.join(["stat", "-c", "%a", node_file(cluster, node, path)]), expect=r"^600$", example="600"),
        ]),
    )


def kubeconfig_check_step(cluster: Cluster) -> Step:
    path = Paths(cluster).kubeconfig
    return service.kubeconfig_check_step(cluster, ID, USER, [
        (node, node_file(cluster, node, path), server_for(cluster, node)) for node in cluster.masters
    ])


def unit_step(cluster: Cluster, f: ControllerManagerFacts) -> Step:
    days = cluster.spec.certificates.leaf_days
    insecure_zh = (f"；这个版本还有不安全的 HTTP 端口 {f.insecure_port}（无认证），"
                   "`--address=127.0.0.1` 把它限制在本机，"
                   "`kubectl get componentstatuses` 正是在 127.0.0.1 探测它" if f.insecure_port else "")
    insecure_en = (f"; this release still has the plain-HTTP port {f.insecure_port} (unauthenticated): "
                   "`--address=127.0.0.1` keeps it on the master itself, where `kubectl get componentstatuses` "
                   "probes it" if f.insecure_port else "")
    return Step(
        id=f"{ID}.unit",
        title=Text(zh="生成 systemd unit", en="Render the systemd unit"),
        explain=Text(
            zh=(
                f"每台 master 一个 unit，只有监听地址不同：本机 IP 的 HTTPS 端口 {f.secure_port}{insecure_zh}。"
                f"领导者（leader）选举（选主）用 `{f.lock}` 锁"
                "（`--leader-elect-resource-lock`，kube-controller-manager 没有配置文件）。"
                f"`--cluster-signing-*` 用集群 CA 为 kubelet 的证书请求签名，有效期 {days * 24}h"
                f"（`{f.signing_duration_flag}`）；"
                "`--service-account-private-key-file` 是 apiserver 一章生成的私钥；`--root-ca-file` 放进每个 "
                "ServiceAccount 的 CA；`--use-service-account-credentials` 让每个控制器用自己的 ServiceAccount；"
                "`--controllers=*,bootstrapsigner,tokencleaner` 在默认控制器之外启用 bootstrap token 的签名与清理；"
                "`--cluster-cidr` 与 `--allocate-node-cidrs` 给每个节点分配 Pod 网段。"
            ),
            en=(
                f"One unit per master; only the listen address differs: HTTPS on the master's IP, port "
                f"{f.secure_port}{insecure_en}. Leader election uses the `{f.lock}` lock "
                "(`--leader-elect-resource-lock`; kube-controller-manager has no config file). "
                "`--cluster-signing-*` signs kubelets' certificate requests with the cluster CA, valid "
                f"{days * 24}h (`{f.signing_duration_flag}`); `--service-account-private-key-file` is the key "
                "made in the apiserver chapter; `--root-ca-file` is the CA put into every service account; "
                "`--use-service-account-credentials` gives each controller its own service account; "
                "`--controllers=*,bootstrapsigner,tokencleaner` adds bootstrap-token signing and cleanup to the "
                "defaults; `--cluster-cidr` with `--allocate-node-cidrs` hands each node a pod range."
            ),
        ),
        warnings=(
            Text(
                zh="`--cluster-signing-key-file` 需要集群 CA 的私钥，所以它会被复制到每台 master（0600）。"
                "拿到任何一台 master 的 root 权限就能签发任意身份（包括 system:masters）的证书：严格限制 master "
                "的登录权限。`--experimental-cluster-signing-duration` 在 1.25 被删除，1.19 起用 "
                "`--cluster-signing-duration`；`--port`、`--address` 在 1.24 被删除。",
                en="`--cluster-signing-key-file` needs the cluster CA's private key, so it is copied to every "
                "master (0600). Root on any master can then sign a certificate for any identity, system:masters "
                "included: restrict who can log in to masters. `--experimental-cluster-signing-duration` was "
                "removed in 1.25 (use `--cluster-signing-duration`, since 1.19); `--port` and `--address` were "
                "removed in 1.24.",
            ),
            Text(
                zh="`--service-cluster-ip-range` 必须与 kube-apiserver 的同名参数一致；"
                "`--service-account-private-key-file` 必须与 apiserver 的 `--service-account-key-file` 配对"
                "（种子 004 用 CA 私钥充当，这里用单独的密钥对）。",
                en="`--service-cluster-ip-range` must equal the apiserver's flag of the same name; "
                "`--service-account-private-key-file` must pair with the apiserver's `--service-account-key-file` "
                "(seed 004 uses the CA key for it; here it is a key pair of its own).",
            ),
        ),
        shows=(Show(f"{ID}.service", "ini", tuple((n.name, on_node(n, Paths(cluster).unit))
                                                  for n in cluster.masters)),),
        local=(render(cluster, ID, "unit"),),
    )


def distribute_step(cluster: Cluster) -> Step:
    paths = Paths(cluster)
    keys = paths.secrets()
    check = f"{sudo(cluster)}stat -c %a {' '.join(keys)} | paste -sd ,"
    return Step(
        id=f"{ID}.distribute",
        title=Text(zh="分发到每台 master", en="Distribute to every master"),
        explain=Text(
            zh=(
                f"一条 tar 管道把 `{rel_build(cluster)}/nodes/<节点>/` 下的文件原样复制到节点的同一路径，保留权限"
                "（私钥与 kubeconfig 0600）。其中 ServiceAccount 私钥由 apiserver 一章渲染。然后检查每个私钥的权限。"
            ),
            en=(
                f"One tar pipe copies the files under `{rel_build(cluster)}/nodes/<node>/` to the same paths on "
                "the node, modes kept (0600 for keys and the kubeconfig). The service-account key among them was "
                "rendered by the apiserver chapter. Then every key's mode is checked."
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            push(cluster, node, paths.node_files()),
            on(cluster, node, check, expect=rf"^{','.join(['600'] * len(keys))}$",
               example=",".join(["600"] * len(keys))),
        ]),
    )



def health_step(cluster: Cluster, f: ControllerManagerFacts) -> Step:
    def curl(node: Node) -> str:
        return shlex.join([
            "curl", "-sS", "--fail", "--cacert", pki_file(cluster, "ca.pem"),
            "--cert", pki_file(cluster, "admin.pem"), "--key", pki_file(cluster, "admin-key.pem"),
            f"https://{node.host}:{f.secure_port}/healthz",
        ])

    return Step(
        id=f"{ID}.health",
        title=Text(zh="检查健康端点", en="Check the health endpoint"),
        explain=Text(
            zh=(
                f"从运维机访问每台 master 的 `https://<IP>:{f.secure_port}/healthz`，应返回 `ok`。服务端证书用集群 "
                "CA 校验（`--cacert`，不用 `-k`）；带上 admin 证书，这样在健康检查还需要授权的旧版本上也能通过。"
                "非 leader 的实例同样健康，它们只是在等锁。再不带证书请求 `/metrics`：必须被拒绝（401 或 403），"
                "指标只给已授权的客户端。"
            ),
            en=(
                f"From the workstation, `https://<IP>:{f.secure_port}/healthz` on every master must answer `ok`. "
                "The serving certificate is checked against the cluster CA (`--cacert`, never `-k`); the admin "
                "certificate is sent so the check also passes on older releases where health needed "
                "authorization. Instances that are not the leader are healthy too: they are waiting for the lock. "
                "Then `/metrics` is asked without a certificate: it must be refused (401 or 403), metrics are for "
                "authorized clients only."
            ),
        ),
        warnings=(
            Text(
                zh="1.22 起不安全端口 10252 已关闭：还在探测 10252 的监控会一直失败，请改为 HTTPS 10257。",
                en="Since 1.22 the insecure port 10252 is off: probes still pointed at 10252 always fail; use "
                "HTTPS on 10257.",
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            Command(curl(node), expect=r"^ok$", example="ok"),
            anonymous_refused(cluster, f"https://{node.host}:{f.secure_port}/metrics"),
        ]),
        needs_kube_binaries=True,
    )
