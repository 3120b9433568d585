"""The etcd chapter: certificates, units, a parallel start; then the checks of etcd/checks.py."""

from __future__ import annotations

import re
import shlex

from generator import pki, trust
from generator.artifacts import Artifact, on_node
from generator.components.admin.files import CERT as ADMIN_CERT
from generator.components.etcd import backup, files
from generator.components.etcd.checks import (
    endpoint_status_step,
    etcd_ca,
    failover_step,
    health_step,
    leader_step,
    snapshot_step,
    status_step,
)
from generator.components.etcd.facts import EtcdFacts, facts
from generator.components.etcd.files import (
    CLIENT_PORT,
    ETCDCTL_CLIENT,
    ID,
    PEER_PORT,
    Paths,
    peer_spec,
    server_spec,
)
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.pki import APISERVER_ETCD_CLIENT
from generator.steps import Chapter, Command, Show, Step, Text, for_each, on, pki_file, push, render, subject_line, sudo

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return files.artifacts(ctx) + backup.artifacts(ctx)


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.spec.components.etcd.version)
    members = cluster.etcd_members
    names = "、".join(n.name for n in members)
    ca = etcd_ca(cluster)
    intro = Text(
        zh=(
            f"etcd 保存集群的全部状态。本章在 {len(members)} 个成员（{names}）上部署一个 etcd {f.version} 集群："
            f"客户端端口 {CLIENT_PORT}、成员之间的 peer 端口 {PEER_PORT} 都使用 TLS，并且双向校验证书——"
            f"没有{ca.zh}签发的客户端证书，连不上 etcd。成员数为奇数，"
            f"{len(members)} 个成员允许 {(len(members) - 1) // 2} 个同时故障。"
        ),
        en=(
            f"etcd holds the whole state of the cluster. This chapter runs an etcd {f.version} cluster on "
            f"{len(members)} members ({', '.join(n.name for n in members)}): the client port {CLIENT_PORT} and the "
            f"members' peer port {PEER_PORT} both use TLS with certificates checked in both directions — without "
            f"a client certificate signed by {ca.en} nobody reaches etcd. {len(members)} members survive "
            f"{(len(members) - 1) // 2} failed at once."
        ),
    )
    if not members:
        return Chapter(id=ID, number=5, title=Text(zh="etcd 集群", en="etcd cluster"), intro=Text(
            zh="集群文件里没有 etcd 角色的节点：本章无事可做。", en="No node has the etcd role: nothing to do here."))
    return Chapter(
        id=ID,
        number=5,
        title=Text(zh="etcd 集群", en="etcd cluster"),
        intro=intro,
        steps=(
            cert_step(cluster),
            unit_step(cluster, f),
            distribute_step(cluster),
            start_step(cluster),
            status_step(cluster),
            health_step(cluster, f),
            endpoint_status_step(cluster, f),
            leader_step(cluster, f),
            snapshot_step(cluster, f),
            failover_step(cluster, f),
            *backup.steps(cluster),
        ),
    )


def san_check(cluster: Cluster, name: str, ip: str) -> Command:
    return Command(
        shlex.join(["openssl", "x509", "-in", pki_file(cluster, f"{name}.pem"), "-noout", "-subject",
                    "-ext", "subjectAltName,extendedKeyUsage"]),
        expect=rf"IP Address:{re.escape(ip)}(,|$)",
        example=f"X509v3 Subject Alternative Name: \n    DNS:localhost, IP Address:127.0.0.1, IP Address:{ip}",
    )


def cert_step(cluster: Cluster) -> Step:
    members = cluster.etcd_members
    names = [server_spec(n).name for n in members] + [peer_spec(n).name for n in members]
    names += [APISERVER_ETCD_CLIENT.name, ETCDCTL_CLIENT.name]
    ca_pem = pki_file(cluster, f"{trust.signer(trust.layout(cluster), pki.ETCD_CA).name}.pem")
    verify = Command(
        shlex.join(["openssl", "verify", "-CAfile", ca_pem, *(pki_file(cluster, f"{n}.pem") for n in names)]),
        expect=r": OK$",
        example="\n".join(f"{pki_file(cluster, f'{n}.pem')}: OK" for n in names),
    )
    client_check = Command(
        shlex.join(["openssl", "x509", "-in", pki_file(cluster, f"{APISERVER_ETCD_CLIENT.name}.pem"), "-noout",
                    "-subject", "-ext", "extendedKeyUsage"]),
        expect=rf"CN ?= ?{APISERVER_ETCD_CLIENT.cn}(,|$)",
        example=subject_line(cluster, APISERVER_ETCD_CLIENT.cn, APISERVER_ETCD_CLIENT.org),
    )
    if trust.layout(cluster) == trust.SEPARATE:
        # Proof of the trust domain, on the workstation: the admin's certificate (cluster CA) is no etcd client.
        admin = pki_file(cluster, f"{ADMIN_CERT.name}.pem")
        refused = [Command(f"! {shlex.join(['openssl', 'verify', '-CAfile', ca_pem, admin])}",
                           expect=r"unable to get local issuer certificate",
                           example=f"{subject_line(cluster, ADMIN_CERT.cn, ADMIN_CERT.org).removeprefix('subject=')}\n"
                                   "error 20 at 0 depth lookup: unable to get local issuer certificate\n"
                                   f"error {admin}: verification failed")]
        domain_zh = ("所有证书都由 etcd CA 签发，etcd 只用这个 CA 校验客户端与其他成员：集群 CA 签发的证书"
                     "（admin、调度器、经 CSR 签发的 kubelet 证书）进不了 etcd，最后一条命令确认 admin 证书通不过"
                     "这个 CA 的校验。")
        domain_en = ("Every certificate here is signed by the etcd CA, and etcd checks clients and other members "
                     "against that CA alone: certificates from the cluster CA (the admin's, the scheduler's, kubelet "
                     "certificates issued through the CSR API) never get in, and the last command confirms the "
                     "admin's certificate fails against it.")
    else:
        refused = []
        domain_zh = "所有证书都由集群 CA 签发，etcd 用同一个 CA 校验客户端与其他成员（见“私有 CA”一章的警告）。"
        domain_en = ("Every certificate is signed by the cluster CA, and etcd checks clients and other members "
                     "against that same CA (see the warning in the CA chapter).")
    return Step(
        id=f"{ID}.cert",
        title=Text(zh="签发 etcd 证书", en="Issue the etcd certificates"),
        explain=Text(
            zh=(
                f"{domain_zh}每个成员两张证书："
                "`etcd-server-<成员>` 用于客户端端口 2379，`etcd-peer-<成员>` 用于成员之间的 2380 端口；"
                "两者都同时带 serverAuth 与 clientAuth（成员之间互为客户端与服务端），SAN 是该成员的 IP、"
                "主机名以及 127.0.0.1、localhost（与 kubeadm 相同）。每个成员一张证书，而不是所有成员共用一张："
                "某台机器的私钥泄露，也冒充不了别的成员。\n\n"
                f"两张客户端证书只带 clientAuth：`{APISERVER_ETCD_CLIENT.name}`（CN `{APISERVER_ETCD_CLIENT.cn}`）"
                f"给 kube-apiserver 使用，分发到每台 master；`{ETCDCTL_CLIENT.name}` 是运维人员用 etcdctl "
                "做健康检查时的身份，分发到每个成员。下面先用 openssl 校验证书链，再查看每张服务端证书的 SAN。"
            ),
            en=(
                f"{domain_en} Each member gets two: `etcd-server-<member>` for the client port 2379 and "
                "`etcd-peer-<member>` for the members' port 2380. Both carry serverAuth and clientAuth (members "
                "are each other's clients and servers); their SANs are the member's IP and host name plus "
                "127.0.0.1 and localhost (as kubeadm does). One certificate per member rather than one shared by "
                "all: a key stolen from one machine cannot impersonate another member.\n\n"
                f"Two client certificates carry clientAuth only: `{APISERVER_ETCD_CLIENT.name}` (CN "
                f"`{APISERVER_ETCD_CLIENT.cn}`) for kube-apiserver, copied to every master, and "
                f"`{ETCDCTL_CLIENT.name}`, the operator's identity for etcdctl health checks, copied to every member. "
                "openssl then checks the chain and shows each server certificate's SANs."
            ),
        ),
        warnings=(
            Text(
                zh="etcd 会拿 peer 连接的源 IP 去比对对方 peer 证书里的 SAN。多网卡的机器如果从另一块网卡的 IP "
                "发起连接，对方会拒绝，日志里是 `rejected connection` 与 `tls: \"<IP>\" does not match any of "
                "DNSNames [...]`。让成员之间的路由走证书里的那个 IP，或把该 IP 加进 SAN。",
                en="etcd compares the source IP of a peer connection with the SANs of that peer's certificate. A "
                "multi-homed machine that connects from another interface's IP is refused; the log shows "
                "`rejected connection` and `tls: \"<IP>\" does not match any of DNSNames [...]`. Route the "
                "members' traffic over the IP in the certificate, or add that IP to the SANs.",
            ),
            Text(
                zh="不要用 kube-apiserver 的服务端证书（种子 004 的 `kubernetes.pem`）去连 etcd：它的用途与 SAN "
                "是为 apiserver 准备的，换证书时两边一起受影响。etcd 客户端用独立的客户端证书。",
                en="Do not reuse kube-apiserver's serving certificate (seed 004's `kubernetes.pem`) as the etcd "
                "client certificate: its usages and SANs belong to the apiserver, and renewing one breaks the "
                "other. Give etcd clients their own client certificate.",
            ),
        ),
        shows=(
            Show("etcd-server-csr.json", "json",
                 tuple((n.name, f"pki/{server_spec(n).name}-csr.json") for n in members)),
            Show(f"{APISERVER_ETCD_CLIENT.name}-csr.json", "json",
                 (("", f"pki/{APISERVER_ETCD_CLIENT.name}-csr.json"),)),
        ),
        local=(
            render(cluster, ID, "cert"),
            verify,
            *(san_check(cluster, server_spec(n).name, n.ip) for n in members),
            *(san_check(cluster, peer_spec(n).name, n.ip) for n in members),
            client_check,
            *refused,
        ),
    )


def unit_step(cluster: Cluster, f: EtcdFacts) -> Step:
    paths = Paths(cluster)
    ca = etcd_ca(cluster)
    logger_zh = ("；`--logger=zap` 选用结构化日志（3.4 默认的 capnslog 已弃用，会打印弃用警告）"
                 if f.logger_flags else "")
    logger_en = ("; `--logger=zap` picks the structured logger (3.4's default, capnslog, is deprecated and "
                 "warns about it)") if f.logger_flags else ""
    return Step(
        id=f"{ID}.unit",
        title=Text(zh="生成 systemd unit", en="Render the systemd units"),
        explain=Text(
            zh=(
                "每个成员一个 unit，只有名字与 IP 不同。`--initial-cluster` 列出全部成员的 peer 地址，"
                "`--initial-cluster-state=new` 与 `--initial-cluster-token` 只在第一次启动（数据目录为空）时使用；"
                f"数据在 `{paths.data_dir}`。`--client-cert-auth` 与 `--peer-client-cert-auth` 要求对端出示由"
                f"{ca.zh}签发的证书（这个 CA 由 `--trusted-ca-file`、`--peer-trusted-ca-file` 指定）；"
                f"客户端地址同时监听本机 127.0.0.1{logger_zh}。`Type=notify`：etcd 加入法定多数"
                "（quorum）后才通知 systemd 启动完成。"
            ),
            en=(
                "One unit per member; only the name and the IP differ. `--initial-cluster` lists every member's "
                "peer URL; `--initial-cluster-state=new` and `--initial-cluster-token` are used only on the first "
                f"start (empty data directory); the data lives in `{paths.data_dir}`. `--client-cert-auth` and "
                f"`--peer-client-cert-auth` demand a certificate signed by {ca.en} (`--trusted-ca-file`, "
                "`--peer-trusted-ca-file`) from the other side; the client "
                f"port also listens on 127.0.0.1{logger_en}. `Type=notify`: etcd tells systemd it has started only "
                "once it has joined a quorum."
            ),
        ),
        warnings=(
            Text(
                zh="`--initial-cluster-state=new` 只用于全新的集群。某个成员的数据目录丢了以后不能原样再启动"
                "（其他成员报 `member ... has already been bootstrapped` 或 `cluster ID mismatch`）："
                "先 `etcdctl member remove`，再 `member add`，并用 `--initial-cluster-state=existing` 启动它。",
                en="`--initial-cluster-state=new` is for a brand-new cluster only. A member whose data directory "
                "was lost cannot simply start again (the others log `member ... has already been bootstrapped` "
                "or `cluster ID mismatch`): `etcdctl member remove` it, `member add` it back, and start it with "
                "`--initial-cluster-state=existing`.",
            ),
        ),
        shows=(Show("etcd.service", "ini", tuple((n.name, on_node(n, paths.unit)) for n in cluster.etcd_members)),),
        local=(render(cluster, ID, "unit"),),
    )


def distribute_step(cluster: Cluster) -> Step:
    paths = Paths(cluster)
    s = sudo(cluster)
    ca = etcd_ca(cluster)
    ca_file = paths.ca.rsplit("/", 1)[-1]

    def commands(node: Node) -> list[Command]:
        keys = paths.keys(cluster, node)
        return [
            push(cluster, node, paths.node_files(cluster, node)),
            on(cluster, node, f"{s}stat -c %a:%n {' '.join(keys)}", expect=rf"^600:{re.escape(keys[0])}$",
               example="\n".join(f"600:{key}" for key in keys)),
        ]

    return Step(
        id=f"{ID}.distribute",
        title=Text(zh="分发证书与 unit", en="Distribute certificates and units"),
        explain=Text(
            zh=(
                f"每个成员收到{ca.zh}的证书 `{ca_file}`、自己的 server 与 peer 证书、etcdctl 客户端证书和 unit；"
                f"每台 master 收到 `{ca_file}` 与 `{APISERVER_ETCD_CLIENT.name}` 证书，供 kube-apiserver 使用。"
                "一条 tar 管道按节点自己的目录结构复制，"
                "保留权限（私钥 0600）。然后检查每个私钥的权限。"
            ),
            en=(
                f"Each member receives {ca.en}'s certificate `{ca_file}`, its own server and peer certificates, "
                f"the etcdctl client certificate and its unit; each master receives `{ca_file}` and the "
                f"`{APISERVER_ETCD_CLIENT.name}` certificate for kube-apiserver. A tar pipe copies them in the node's "
                "own layout, keeping modes (0600 for keys). "
                "Then every key's mode is checked."
            ),
        ),
        per_node=for_each(cluster.control_plane, commands),  # members get theirs, masters the apiserver's
    )


def start_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    paths = Paths(cluster)
    remote = (f"{s}install -d -m 0700 {paths.data_dir} && {s}systemctl daemon-reload && "
              f"{s}systemctl enable {ID} && {s}systemctl restart {ID}")
    return Step(
        id=f"{ID}.start",
        title=Text(zh="同时启动所有成员", en="Start all members at once"),
        explain=Text(
            zh=(
                f"需要 `{paths.binary}` 已安装（前置准备一章）。数据目录先以 0700 创建（etcd 要求只有属主可读写）。"
                "各成员的命令是并行执行的：第一个成员要等到多数成员都启动、选出 leader 后才算启动完成，"
                "所以必须同时启动。重复执行是安全的：已有数据的成员忽略 initial-cluster 参数。"
            ),
            en=(
                f"Needs `{paths.binary}` installed (prerequisites chapter). The data directory is created 0700 "
                "first (etcd wants it private to its owner). The members' commands run in parallel: a member "
                "counts as started only once a majority is up and has elected a leader, so they must start "
                "together. Running it again is safe: a member with data ignores the initial-cluster flags."
            ),
        ),
        warnings=(
            Text(
                zh="一台一台地手工启动时，第一台的 `systemctl start etcd` 会一直卡住（它在等其他成员），"
                "直到 systemd 超时报失败。这不是配置错误：在另外的终端里启动其余成员即可。",
                en="Started by hand one at a time, the first `systemctl start etcd` hangs (it waits for the other "
                "members) until systemd times out and reports a failure. Nothing is misconfigured: start the "
                "other members from other terminals.",
            ),
        ),
        per_node=for_each(cluster.etcd_members, lambda node: [on(cluster, node, remote)]),
    )
