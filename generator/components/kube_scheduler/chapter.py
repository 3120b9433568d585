"""The kube-scheduler chapter: from certificate to failover test, in zh and en."""

from __future__ import annotations

import shlex

from generator.artifacts import on_node, rel_build
from generator.components import leader, service
from generator.components.kube_scheduler.facts import SchedulerFacts, facts
from generator.components.kube_scheduler.files import ID, USER, Paths, artifacts, server_for
from generator.components.prerequisites.files import workstation_kubectl
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
    return Chapter(
        id=ID,
        number=8,
        title=Text(zh="高可用 kube-scheduler", en="Highly available kube-scheduler"),
        intro=Text(
            zh=(
                f"高可用的 kube-scheduler 调度器在每台 master 上各运行一个实例（共 {len(cluster.masters)} 个），"
                "通过领导者（leader）选举（选主）只让其中一个工作：leader 定期续约一把锁，其他实例等待；"
                "leader 停止后，锁过期，另一个实例接手。"
                f"本集群为 Kubernetes {cluster.release}，配置文件版本 `{f.config_api}`，锁类型 `{f.lock}`。"
            ),
            en=(
                f"kube-scheduler runs once on every master ({len(cluster.masters)} instances) and leader election "
                "lets only one of them work: the leader keeps renewing a lock, the others wait; when the leader "
                f"stops, the lock expires and another instance takes over. This cluster runs Kubernetes "
                f"{cluster.release}: config version `{f.config_api}`, lock type `{f.lock}`."
            ),
        ),
        steps=(
            cert_step(cluster),
            kubeconfig_step(cluster),
            kubeconfig_check_step(cluster),
            config_step(cluster, f),
            unit_step(cluster, f),
            distribute_step(cluster),
            start_step(cluster, ID, Paths(cluster).binary, Text(zh="", en="")),
            status_step(cluster, ID),
            health_step(cluster, f),
            metrics_step(cluster, f),
            permissions_step(cluster, f),
            leader.leader_step(cluster, ID, f.leader_from_lease),
            leader.failover_step(cluster, ID, f.leader_from_lease,
                                 cluster.spec.components.kube_scheduler.leader_election, f.releases_lock_on_stop),
        ),
    )


def node_file(cluster: Cluster, node: Node, absolute: str) -> str:
    return f"{rel_build(cluster)}/{on_node(node, absolute)}"


def per_node_show(cluster: Cluster, name: str, lang: str, absolute: str) -> Show:
    return Show(name, lang, tuple((n.name, on_node(n, absolute)) for n in cluster.masters))


def cert_step(cluster: Cluster) -> Step:
    return Step(
        id=f"{ID}.cert",
        title=Text(zh="签发 kube-scheduler 证书", en="Issue the kube-scheduler certificate"),
        explain=Text(
            zh=(
                f"kube-scheduler 以用户 `{USER}` 访问 kube-apiserver：证书的 CN 是用户名，O 是用户组，两者都是 "
                f"`{USER}`。内置的 ClusterRoleBinding `{USER}` 把这个用户绑定到调度器需要的权限，"
                "包括读写名为 `kube-scheduler` 的 leader 锁。同一张证书也是 10259 安全端口的服务端证书，"
                "所以它同时带 clientAuth 与 serverAuth，并在 SAN 中列出 127.0.0.1 和每台 master 的 IP 与主机名。"
                "旁边的 `kube-scheduler-csr.json` 是等价的 cfssl 请求。"
            ),
            en=(
                f"kube-scheduler talks to kube-apiserver as the user `{USER}`: the certificate's CN is the user "
                f"name and O the group, both `{USER}`. The built-in ClusterRoleBinding `{USER}` grants that user "
                "what the scheduler needs, including the leader lock named `kube-scheduler`. The same certificate "
                "also serves the secure port 10259, so it has both clientAuth and serverAuth and lists 127.0.0.1 "
                "and every master's IP and host name as SANs. `kube-scheduler-csr.json` beside it is the "
                "equivalent cfssl request."
            ),
        ),
        warnings=(
            Text(
                zh="CN 必须是 `system:kube-scheduler`。写错时日志反复出现 `leases ... \"kube-scheduler\" is "
                "forbidden: User \"...\" cannot get resource \"leases\"`，调度器永远选不出 leader。",
                en="The CN must be `system:kube-scheduler`. With any other CN the log repeats `leases ... "
                "\"kube-scheduler\" is forbidden: User \"...\" cannot get resource \"leases\"` and no leader is "
                "ever elected.",
            ),
        ),
        shows=(Show("kube-scheduler-csr.json", "json", (("", f"pki/{ID}-csr.json"),)),),
        local=(
            render(cluster, ID, "cert"),
            verify_cert(cluster, ID),
            inspect_cert(cluster, ID, rf"CN ?= ?{USER}", subject_line(cluster, USER, USER)),
        ),
    )


def kubeconfig_step(cluster: Cluster) -> Step:
    setting = cluster.spec.components.kube_scheduler.kubeconfig_server
    server_zh = (
        f"负载均衡入口 `{cluster.api_endpoint}`，任何一台 apiserver 宕机都不影响调度器"
        if setting == "vip"
        else "本机的 kube-apiserver（kubeadm 的做法），每台 master 的文件不同"
    )
    server_en = (
        f"the load-balanced endpoint `{cluster.api_endpoint}`, so losing one apiserver does not stop the scheduler"
        if setting == "vip"
        else "this master's own kube-apiserver (as kubeadm does), so each master's file differs"
    )
    path = Paths(cluster).kubeconfig
    return Step(
        id=f"{ID}.kubeconfig",
        title=Text(zh="生成 kubeconfig", en="Build the kubeconfig"),
        explain=Text(
            zh=(
                f"kubeconfig 内嵌 CA、证书与私钥，用户 `{USER}`，context `{USER}@kubernetes`；server 指向"
                f"{server_zh}。文件含私钥，权限 0600，下面逐台检查。"
            ),
            en=(
                f"The kubeconfig embeds the CA, the certificate and the key, with user `{USER}` and context "
                f"`{USER}@kubernetes`; its server is {server_en}. It holds a private key: mode 0600, "
                "checked on each master's copy."
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


def config_step(cluster: Cluster, f: SchedulerFacts) -> Step:
    name_key, _ = f.lock_name_keys
    return Step(
        id=f"{ID}.config",
        title=Text(zh="生成 KubeSchedulerConfiguration", en="Render the KubeSchedulerConfiguration"),
        explain=Text(
            zh=(
                f"Kubernetes {cluster.release} 读取 `{f.config_api}`。配置开启 leader 选举（锁类型 `{f.lock}`，"
                f"锁名 `{name_key}: kube-scheduler`，命名空间 kube-system），并在 `clientConnection.kubeconfig` "
                "里给出 kubeconfig：使用 `--config` 后，命令行上的 `--kubeconfig` 会被忽略。"
            ),
            en=(
                f"Kubernetes {cluster.release} reads `{f.config_api}`. The config turns leader election on (lock "
                f"type `{f.lock}`, `{name_key}: kube-scheduler` in kube-system) and names the kubeconfig in "
                "`clientConnection.kubeconfig`: with `--config`, a `--kubeconfig` flag is ignored."
            ),
        ),
        warnings=(
            Text(
                zh="1.17 起配置按严格模式解析：旧版本的字段（如 `bindTimeoutSeconds`、`healthzBindAddress`）"
                "会让启动失败，报 `strict decoder error ... unknown field`。不要把别的版本的配置复制过来，"
                "也不要在配置里留注释说明以外的东西。",
                en="Since 1.17 the config is decoded strictly: a field of an older version (such as "
                "`bindTimeoutSeconds` or `healthzBindAddress`) stops the start with `strict decoder error ... "
                "unknown field`. Never copy a config written for another release.",
            ),
        ),
        shows=(per_node_show(cluster, "kube-scheduler.yaml", "yaml", Paths(cluster).config),),
        local=(render(cluster, ID, "config"),),
    )


def unit_step(cluster: Cluster, f: SchedulerFacts) -> Step:
    if f.secure_port:
        serving_zh = (
            f"在本机 IP 的 {f.secure_port} 端口提供 HTTPS（/healthz、/metrics），"
            "并用 `--authentication-kubeconfig` 与 `--authorization-kubeconfig` 把认证与授权委托给 apiserver"
        )
        serving_en = (
            f"serves HTTPS on the master's IP, port {f.secure_port} (/healthz, /metrics), and delegates "
            "authentication and authorization to the apiserver with `--authentication-kubeconfig` and "
            "`--authorization-kubeconfig`"
        )
        if f.insecure_loopback:
            serving_zh += (
                f"。这个版本还有不安全的 HTTP 端口 {f.insecure_port}（无认证的 /healthz 与 /metrics），"
                "默认监听所有网卡；"
                "使用 `--config` 时 `--port`、`--address` 被忽略，只有配置文件里的 `healthzBindAddress` 与 "
                "`metricsBindAddress` 起作用（v1beta1 还拒绝端口 0），所以配置把它绑定到 127.0.0.1："
                "外面访问不到，而 `kubectl get componentstatuses` 正是在本机这个地址探测调度器"
            )
            serving_en += (
                f". This release still has the plain-HTTP port {f.insecure_port} (unauthenticated /healthz and "
                "/metrics), on every interface by default; with `--config`, `--port` and `--address` are ignored "
                "and only the config's `healthzBindAddress` and `metricsBindAddress` count (v1beta1 even refuses "
                "port 0), so the config binds it to 127.0.0.1: out of reach from outside, and exactly where "
                "`kubectl get componentstatuses` probes the scheduler"
            )
    else:
        serving_zh = (f"在所有地址的 {f.insecure_port} 端口以 HTTP 提供 /healthz 与 /metrics（这个版本还没有安全端口；"
                      "运维机经本机 IP 检查它，`kubectl get componentstatuses` 经 127.0.0.1 检查它）")
        serving_en = (
            f"serves /healthz and /metrics over plain HTTP on every address, port {f.insecure_port} (this release "
            "has no secure port yet; the workstation checks it on the master's IP, `kubectl get "
            "componentstatuses` on 127.0.0.1)"
        )
    return Step(
        id=f"{ID}.unit",
        title=Text(zh="生成 systemd unit", en="Render the systemd unit"),
        explain=Text(
            zh=f"每台 master 一个 unit，只有监听地址不同。调度器{serving_zh}。",
            en=f"One unit per master; only the listen address differs. The scheduler {serving_en}.",
        ),
        warnings=(
            Text(
                zh="续行符 `\\` 必须是行尾最后一个字符。`\\` 后面多一个空格，systemd 就把下一行当成新行，"
                "启动报 `\"kube-scheduler\" does not take any arguments`。",
                en="A continuation `\\` must be the last character of its line. One space after it and systemd "
                "reads the next line as a new one; the start fails with `\"kube-scheduler\" does not take any "
                "arguments`.",
            ),
        ),
        shows=(per_node_show(cluster, "kube-scheduler.service", "ini", Paths(cluster).unit),),
        local=(render(cluster, ID, "unit"),),
    )


def distribute_step(cluster: Cluster) -> Step:
    paths = Paths(cluster)
    return Step(
        id=f"{ID}.distribute",
        title=Text(zh="分发到每台 master", en="Distribute to every master"),
        explain=Text(
            zh=(
                "每台 master 的文件已按节点自己的目录结构放在 "
                f"`{rel_build(cluster)}/nodes/<节点>/` 下。一条 tar 管道把它们原样复制到节点的同一路径："
                "保留权限（私钥 0600），自动建目录，每个节点只连一次 ssh。然后检查私钥权限。"
            ),
            en=(
                "Each master's files already sit in the node's own directory layout under "
                f"`{rel_build(cluster)}/nodes/<node>/`. One tar pipe copies them to the same paths on the node: "
                "modes are kept (0600 for the key), directories are created, one ssh connection per node. Then "
                "the key's mode is checked."
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            push(cluster, node, paths.node_files()),
            on(cluster, node, f"{sudo(cluster)}stat -c %a:%n {paths.key}", expect=rf"^600:{paths.key}$",
               example=f"600:{paths.key}"),
        ]),
    )



def base_url(node: Node, f: SchedulerFacts) -> str:
    if f.secure_port:
        return f"https://{node.host}:{f.secure_port}"
    return f"http://{node.host}:{f.insecure_port}"


def curl(cluster: Cluster, f: SchedulerFacts, url: str, client: bool) -> str:
    parts = ["curl", "-sS", "--fail"]
    if f.secure_port:
        parts += ["--cacert", pki_file(cluster, "ca.pem")]
        if client:
            parts += ["--cert", pki_file(cluster, "admin.pem"), "--key", pki_file(cluster, "admin-key.pem")]
    return shlex.join([*parts, url])


def health_step(cluster: Cluster, f: SchedulerFacts) -> Step:
    paths = ", ".join(f"`{p}`" for p in f.health_paths)
    return Step(
        id=f"{ID}.health",
        title=Text(zh="检查健康端点", en="Check the health endpoints"),
        explain=Text(
            zh=(
                f"从运维机访问每台 master 的 {paths}，应返回 `ok`。健康端点无需授权。"
                + ("证书由集群 CA 校验，所以用 `--cacert` 而不是 `-k`。" if f.secure_port else "")
            ),
            en=(
                f"From the workstation, {paths} on every master must answer `ok`. Health endpoints need no "
                "authorization." + (" The serving certificate is checked against the cluster CA: `--cacert`, "
                                    "never `-k`." if f.secure_port else "")
            ),
        ),
        warnings=(
            Text(
                zh="1.23 起不安全端口 10251 已移除：还在探测 10251 的监控会一直失败，请改为 HTTPS 10259。",
                en="Since 1.23 the insecure port 10251 is gone: probes still pointed at 10251 always fail; use "
                "HTTPS on 10259.",
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            Command(curl(cluster, f, base_url(node, f) + path, client=False), expect=r"^ok$", example="ok")
            for path in f.health_paths
        ]),
        needs_kube_binaries=True,
    )


def metrics_step(cluster: Cluster, f: SchedulerFacts) -> Step:
    return Step(
        id=f"{ID}.metrics",
        title=Text(zh="查看 metrics", en="Read the metrics"),
        explain=Text(
            zh=(
                "`/metrics` 需要已授权的客户端：先不带证书请求一次，必须被拒绝（401 或 403）；再用 admin 证书"
                "（system:masters）读取，只显示前五行。"
                if f.secure_port
                else "这个版本的 `/metrics` 在 HTTP 端口上，无需认证。只显示前五行。"
            ),
            en=(
                "`/metrics` needs an authorized client: asked once without a certificate it must be refused "
                "(401 or 403); then the admin certificate (system:masters) reads it, first five lines shown."
                if f.secure_port
                else "On this release `/metrics` is on the HTTP port and needs no authentication. Only the first "
                "five lines are shown."
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            *([anonymous_refused(cluster, base_url(node, f) + "/metrics")] if f.secure_port else []),
            Command(f"{curl(cluster, f, base_url(node, f) + '/metrics', client=True)} | awk 'NR<=5'",
                    expect=r"^# (HELP|TYPE) ",
                    example="# HELP apiserver_audit_event_total [ALPHA] Counter of audit events generated and sent "
                            "to the audit backend."),
        ]),
        needs_kube_binaries=True,
    )


def permissions_step(cluster: Cluster, f: SchedulerFacts) -> Step:
    """What the scheduler's own credentials may do, asked of the apiserver with its kubeconfig."""
    config = node_file(cluster, cluster.masters[0], Paths(cluster).kubeconfig)
    k = shlex.join([workstation_kubectl(cluster), "--kubeconfig", config])
    lock = f"{'leases' if f.leader_from_lease else 'endpoints'}/{ID}"
    return Step(
        id=f"{ID}.permissions",
        title=Text(zh="调度器凭据的权限", en="What the scheduler's credentials may do"),
        explain=Text(
            zh=(
                f"用调度器自己的 kubeconfig（用户 `{USER}`）问 apiserver：它能读写锁 `{lock}`（kube-system），"
                "却不能列出 Secret。内置 RBAC 只给调度器它需要的权限；如果这里对 Secret 也回答 yes，"
                "说明证书的 O 被写成了 `system:masters` 之类的特权组。`kubectl auth can-i` 回答 no 时以非零状态退出，"
                "所以那条命令后面有 `|| true`，检查的是它的输出。"
            ),
            en=(
                f"Ask the apiserver with the scheduler's own kubeconfig (user `{USER}`): it may get and update "
                f"the lock `{lock}` in kube-system, but it may not list Secrets. The built-in RBAC gives the "
                "scheduler only what it needs; a yes for Secrets means the certificate's O names a privileged "
                "group such as `system:masters`. `kubectl auth can-i` exits non-zero when the answer is no, so "
                "that command ends in `|| true` and its output is what is checked."
            ),
        ),
        local=(
            Command(f"{k} auth can-i get {lock} -n kube-system", expect=r"^yes$", example="yes"),
            Command(f"{k} auth can-i update {lock} -n kube-system", expect=r"^yes$", example="yes"),
            Command(f"{k} auth can-i list secrets --all-namespaces || true", expect=r"^no$", example="no"),
        ),
        needs_kube_binaries=True,
    )
