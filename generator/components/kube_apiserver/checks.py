"""kube-apiserver checks once it runs: health, readiness, kubelet RBAC, encryption at rest, losing one apiserver."""

from __future__ import annotations

import re
import shlex

from generator import daemons
from generator.components import leader
from generator.components.admin.files import kubectl
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.kube_apiserver.facts import ApiServerFacts
from generator.components.kube_apiserver.files import (
    ID,
    KUBELET_CLIENT_USER,
    KUBELET_RBAC_BINDING,
    KUBELET_RBAC_ROLE,
)
from generator.components.load_balancer.shell import backend_status_function, holder_functions
from generator.model import Cluster, Node
from generator.steps import Command, Step, Text, for_each_master, on, pki_file, sudo

# A Secret written only to see how etcd stores it; its value is a marker, not a secret.
PROBE_SECRET = "runbook-encryption-probe"
PROBE_VALUE = "plaintext-marker-visible-only-without-encryption"
STORED_PREFIX = "k8s:enc:secretbox:v1:key1:"
LOSS_WAIT = 60  # seconds the apiserver-loss test may take at most
POLL = "0.2"
READY_WAIT = 60  # seconds the endpoint may take to have a backend UP


def health_step(cluster: Cluster) -> Step:
    port = cluster.spec.api_server.secure_port
    return Step(
        id=f"{ID}.health",
        title=Text(zh="逐台检查 /healthz", en="Check /healthz on each master"),
        explain=Text(
            zh=(
                f"绕过负载均衡，直接访问每台 master 的 `https://<IP>:{port}/healthz`，应返回 `ok`。"
                "证书用集群 CA 校验（`--cacert`，不用 `-k`），这同时证明证书的 SAN 含有这台 master 的 IP。"
                "`/healthz` 对匿名用户开放（内置 RBAC），不需要客户端证书。kube-apiserver 一开始服务就通知 systemd，"
                "服务即算启动完成；首次启动时这可能比 RBAC 初始化开放匿名访问 `/healthz` 早几秒（在那之前返回 403），"
                f"所以每 0.5 秒问一次，最多等 {READY_WAIT} 秒。"
            ),
            en=(
                f"Bypassing the load balancer, `https://<IP>:{port}/healthz` on every master must answer `ok`. "
                "The certificate is checked against the cluster CA (`--cacert`, never `-k`), which also proves "
                "its SANs hold that master's IP. `/healthz` is open to anonymous users (built-in RBAC), so no "
                "client certificate is needed. systemd reports the service started as soon as kube-apiserver "
                "serves (it notifies systemd), which on a first start can be a few seconds before its RBAC "
                "bootstrap has opened `/healthz` to anonymous users (403 until then): the check asks every "
                f"0.5 s for up to {READY_WAIT} s."
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [Command(healthz_until_ok(cluster, node, port),
                                                                expect=r"^ok$", example="ok")]),
        needs_kube_binaries=True,
    )


def until_it_answers(query: str) -> str:
    """`query` again every 0.5 s until it succeeds (at most READY_WAIT s), then once more to show its answer."""
    return "\n".join([
        f"end=$((SECONDS + {READY_WAIT}))",
        f"until {query} >/dev/null 2>&1 || [ $SECONDS -ge $end ]; do sleep 0.5; done",
        query,
    ])


def healthz_until_ok(cluster: Cluster, node: Node, port: int) -> str:
    return until_it_answers(shlex.join(["curl", "-sS", "--fail", "--cacert", pki_file(cluster, "ca.pem"),
                                        f"https://{node.host}:{port}/healthz"]))


def ready_step(cluster: Cluster, f: ApiServerFacts) -> Step:
    query = f"{kubectl(cluster)} get --raw {shlex.quote(f.ready_path)}"
    # Each master answered /healthz just before, but the load balancer marks a backend UP only after CHECK_RISE
    # checks CHECK_INTERVAL s apart (haproxy answered "EOF" to a request made 0.07 s after the last master came up).
    command = until_it_answers(query)
    if f.has_readyz:
        expect = rf"^{f.ready_verdict}$"
        example = f"[+]etcd ok\n[+]poststarthook/start-apiextensions-controllers ok\n{f.ready_verdict}"
        what_zh = f"`/readyz?verbose` 逐项列出就绪检查（etcd、各个 post-start hook），最后一行应是 `{f.ready_verdict}`"
        what_en = ("`/readyz?verbose` lists every readiness check (etcd, each post-start hook) and must end with "
                   f"`{f.ready_verdict}`")
    else:
        expect = r"^ok$"
        example = "ok"
        what_zh = "这个版本还没有 `/readyz`（1.16 才加入），用 `/healthz`，应返回 `ok`"
        what_en = "this release has no `/readyz` yet (added in 1.16), so `/healthz` must answer `ok`"
    return Step(
        id=f"{ID}.ready",
        title=Text(zh="经负载均衡入口检查就绪", en="Check readiness through the endpoint"),
        explain=Text(
            zh=f"用 admin kubeconfig 经负载均衡入口 `{cluster.api_endpoint}` 访问：{what_zh}。"
            "这证明入口地址在证书 SAN 里，且 admin 证书被接受。负载均衡要连续几次健康检查成功才把刚启动的"
            f"apiserver 标为 UP，所以先每 0.5 秒试一次，最多等 {READY_WAIT} 秒，再打印结果。",
            en=f"Through the load-balanced endpoint `{cluster.api_endpoint}` with the admin kubeconfig: "
            f"{what_en}. This proves the endpoint is one of the certificate's SANs and the admin certificate is "
            "accepted. A load balancer marks a freshly started apiserver UP only after a few passing health "
            f"checks, so the request is tried every 0.5 s for up to {READY_WAIT} s before its answer is printed.",
        ),
        local=(Command(command, expect=expect, example=example),),
        needs_kube_binaries=True,
    )


def kubelet_rbac_step(cluster: Cluster) -> Step:
    k = kubectl(cluster)
    create = (f"{k} get clusterrolebinding {KUBELET_RBAC_BINDING} >/dev/null 2>&1 || "
              f"{k} create clusterrolebinding {KUBELET_RBAC_BINDING} --clusterrole={KUBELET_RBAC_ROLE} "
              f"--user={KUBELET_CLIENT_USER}")
    query = 'jsonpath={.roleRef.name} {.subjects[0].kind} {.subjects[0].name}{"\\n"}'
    verify = f"{k} get clusterrolebinding {KUBELET_RBAC_BINDING} -o {shlex.quote(query)}"
    return Step(
        id=f"{ID}.kubelet-rbac",
        title=Text(zh="授权 apiserver 访问 kubelet API", en="Let the apiserver use the kubelet API"),
        explain=Text(
            zh=(
                f"kubelet 用 Webhook 授权时，会问 apiserver：用户 `{KUBELET_CLIENT_USER}`（apiserver 出示的客户端"
                f"证书的 CN）能否访问 nodes/proxy、nodes/log 等？ClusterRoleBinding `{KUBELET_RBAC_BINDING}` 把它绑定到"
                f"内置的 `{KUBELET_RBAC_ROLE}`。否则 `kubectl logs`、`exec` 报 Forbidden。"
                "命令先检查绑定是否已存在，所以可以重复执行；第二条命令读回绑定的内容。"
            ),
            en=(
                "A kubelet using Webhook authorization asks the apiserver whether the user "
                f"`{KUBELET_CLIENT_USER}` (the CN of the client certificate the apiserver presents) may use "
                f"nodes/proxy, nodes/log and so on. The ClusterRoleBinding `{KUBELET_RBAC_BINDING}` binds it to "
                f"the built-in `{KUBELET_RBAC_ROLE}`; without it `kubectl logs` and `exec` are Forbidden. The "
                "command checks whether the binding exists first, so it is safe to re-run; the second reads the "
                "binding back."
            ),
        ),
        warnings=(
            Text(
                zh="种子 004 绑定的是 `--user kubernetes`，因为它拿服务端证书兼作 kubelet 客户端证书。"
                f"这里的客户端证书 CN 是 `{KUBELET_CLIENT_USER}`，绑定必须写这个名字，否则照样 Forbidden。",
                en="Seed 004 binds `--user kubernetes` because it reuses the serving certificate as the kubelet "
                f"client certificate. Here the client certificate's CN is `{KUBELET_CLIENT_USER}`, and the "
                "binding must name it, or the calls stay Forbidden.",
            ),
        ),
        local=(
            Command(create),
            Command(verify, expect=rf"^{KUBELET_RBAC_ROLE} User {KUBELET_CLIENT_USER}$",
                    example=f"{KUBELET_RBAC_ROLE} User {KUBELET_CLIENT_USER}"),
        ),
        needs_kube_binaries=True,
    )


def encryption_at_rest_step(cluster: Cluster) -> Step:
    k = kubectl(cluster)
    node = runner(cluster)
    read = etcdctl(cluster, etcd_facts(cluster.spec.components.etcd.version), "get",
                   f"/registry/secrets/default/{PROBE_SECRET}", "--print-value-only", members=(node,))
    remote = (f"{read} | head -c {len(STORED_PREFIX)}; echo; "
              f"if {read} | grep -qa {PROBE_VALUE}; then echo 'plaintext FOUND in etcd'; "
              "else echo 'plaintext not in etcd'; fi")
    expect = rf"\A(?=[\s\S]*^{re.escape(STORED_PREFIX)}$)(?=[\s\S]*^plaintext not in etcd$)"
    return Step(
        id=f"{ID}.encryption-at-rest",
        title=Text(zh="确认 Secret 在 etcd 中是加密的", en="Prove Secrets are encrypted in etcd"),
        explain=Text(
            zh=(
                f"经负载均衡入口写入一个测试 Secret `{PROBE_SECRET}`（值是一个标记字符串，不是机密），再在 {node.name} "
                "上用 etcdctl 直接读 etcd 里存的原始字节：它必须以 "
                f"`{STORED_PREFIX}` 开头（secretbox 加密、密钥 key1），并且找不到那个标记字符串。然后删除它。"
                "加密配置写错或没生效时，这里读到的是以 `k8s` 开头的明文 protobuf，标记字符串清晰可见。"
            ),
            en=(
                f"Write a test Secret `{PROBE_SECRET}` through the endpoint (its value is a marker string, not a "
                f"secret), then on {node.name} read the raw bytes etcd stores with etcdctl: they must start with "
                f"`{STORED_PREFIX}` (secretbox, key key1) and the marker must not be found in them. Then delete "
                "it. With a wrong or ignored encryption config the read shows plain protobuf starting with `k8s`, "
                "the marker in clear."
            ),
        ),
        local=(
            Command(f"{k} delete secret {PROBE_SECRET} --ignore-not-found"),
            Command(f"{k} create secret generic {PROBE_SECRET} --from-literal=probe={PROBE_VALUE}",
                    expect=rf"{PROBE_SECRET}.* created", example=f"secret/{PROBE_SECRET} created"),
            on(cluster, node, remote, expect=expect, example=f"{STORED_PREFIX}\nplaintext not in etcd"),
            Command(f"{k} delete secret {PROBE_SECRET}", expect=rf"{PROBE_SECRET}.* deleted",
                    example=f'secret "{PROBE_SECRET}" deleted'),
        ),
        needs_kube_binaries=True,
    )


def leader_identity_functions(cluster: Cluster) -> list[str]:
    """Shell function `identities`: the full holder identity (host and process id) of every elected service's
    lock, one per line; a restarted or replaced leader shows up as a changed line."""
    queries = [leader.leader_query(cluster, s.unit, s.election.lock(cluster).from_lease)
               for s in daemons.elected(cluster) if s.election]
    return ["identities() {", *(f"  {q} 2>/dev/null" for q in queries), "}"]


def loss_script(cluster: Cluster) -> str:
    api = cluster.spec.api_server
    s = sudo(cluster)
    host = f"[{api.vip}]" if ":" in (api.vip or "") else api.vip
    request = shlex.join(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "--max-time", "5",
                          "--cacert", pki_file(cluster, "ca.pem"), "--cert", pki_file(cluster, "admin.pem"),
                          "--key", pki_file(cluster, "admin-key.pem"),
                          f"https://{host}:{api.port}/api/v1/namespaces/default"])
    return "\n".join([
        *holder_functions(cluster),
        *backend_status_function(cluster),
        f"end=$((SECONDS + {LOSS_WAIT}))",
        'old=$(holders); echo "VIP on: $old"',
        '[ "$(echo $old | wc -w)" -eq 1 ] || { echo "the VIP must be on exactly one master first"; exit 1; }',
        'log=$(mktemp); done_file=$(mktemp -u)',
        f'( while [ ! -e "$done_file" ] && [ $SECONDS -lt $end ]; do {request} >> "$log" 2>/dev/null; '
        'sleep 0.1; done ) & loop=$!',
        *leader_identity_functions(cluster),
        'before="$(identities)"',
        "sleep 2",
        "t0=$(date +%s.%N)",
        f"on_node \"$old\" '{s}systemctl stop {ID}' & stopping=$!",
        'until backend_status "$old" "$old" | grep -q "^DOWN" || [ $SECONDS -ge $end ]; '
        f"do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        'echo "haproxy on $old: backend $old is $(backend_status "$old" "$old")"',
        "sleep 3",
        'touch "$done_file"; wait $loop; wait $stopping',
        'total=$(grep -c . "$log"); failed=$(grep -vc "^200$" "$log"); rm -f "$log"',
        f"on_node \"$old\" '{s}systemctl start {ID}'",
        'until backend_status "$old" "$old" | grep -q "^UP" || [ $SECONDS -ge $end ]; '
        f"do sleep {POLL}; done",
        'echo "haproxy on $old: backend $old is $(backend_status "$old" "$old") again"',
        'echo "requests through the VIP while kube-apiserver on $old stopped: $total, failed: $failed"',
        'changes=$(diff <(echo "$before") <(identities) | grep -c "^>")',
        'echo "leader locks that changed hands meanwhile: $changes"',
        'echo "measured: apiserver_loss_leader_changes=$changes"',
        'awk -v a="$t0" -v b="$t1" \'BEGIN { printf "measured: apiserver_backend_down_seconds=%.3f\\n", b - a }\'',
        'echo "measured: apiserver_loss_requests=$total"',
        'echo "measured: apiserver_loss_failed_requests=$failed"',
    ])


def loss_step(cluster: Cluster) -> Step:
    api = cluster.spec.api_server
    return Step(
        id=f"{ID}.failover",
        title=Text(zh="停掉一台 kube-apiserver：经 VIP 的请求不失败", en="Lose one kube-apiserver: requests through "
                   "the VIP keep succeeding"),
        explain=Text(
            zh=(
                f"运维机以每秒约 10 次的速度经 VIP `{api.vip}:{api.port}` 用 admin 证书请求 apiserver，同时停止持有 "
                f"VIP 的 master 上的 kube-apiserver——它自己的 haproxy 还在把三分之一的请求转给它。haproxy 每 2 秒用 "
                "`/healthz` 检查一次后端，连续 2 次失败后把它标成 DOWN；在那之前，连接被拒绝的请求由 `retries 3` 与 "
                "`option redispatch` 重试到另一台 apiserver。脚本从该 master 的 haproxy 统计页读后端状态，"
                "打印 `measured: apiserver_backend_down_seconds=…`（停止到标成 DOWN 的秒数）、请求总数与失败数"
                "（目标是 0），然后重新启动这台 apiserver，等它重新变成 UP。"
            ),
            en=(
                f"The workstation sends about 10 requests a second through the VIP `{api.vip}:{api.port}` with the "
                "admin certificate while kube-apiserver stops on the master that holds the VIP — whose own haproxy "
                "still sends it a third of the requests. haproxy checks each backend's `/healthz` every 2 s and "
                "marks it DOWN after 2 failures; until then `retries 3` and `option redispatch` retry a refused "
                "connection on another apiserver. The script reads the backend's state from that master's haproxy "
                "stats page and prints `measured: apiserver_backend_down_seconds=…` (stop until DOWN), the "
                "number of requests and of failed ones (the goal is 0), then starts the apiserver again and waits "
                "until it is UP."
            ),
        ),
        local=(Command(loss_script(cluster), expect=r"^requests through the VIP while kube-apiserver on \S+ stopped: "
                       r"\d+, failed: \d+$",
                       example=f"requests through the VIP while kube-apiserver on {cluster.masters[0].name} stopped: "
                               "69, failed: 0\nmeasured: apiserver_backend_down_seconds=3.241"),),
        needs_kube_binaries=True,
    )
