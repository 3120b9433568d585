"""The etcd chapter: certificates, units, a parallel start, health and status over TLS, leader, failover."""

from __future__ import annotations

import re
import shlex

from generator.artifacts import on_node
from generator.components.etcd.facts import EtcdFacts, facts
from generator.components.etcd.files import (
    APISERVER_CLIENT,
    CLIENT_PORT,
    ETCDCTL_CLIENT,
    ID,
    PEER_PORT,
    Paths,
    client_url,
    endpoints,
    peer_spec,
    server_spec,
)
from generator.components.leader import failover_example
from generator.model import Cluster, Node
from generator.steps import (
    Chapter,
    Command,
    Show,
    Step,
    Text,
    for_each,
    on,
    pki_file,
    push,
    render,
    ssh_prefix,
    subject_line,
    sudo,
)

FAILOVER_WAIT = 30  # seconds for the remaining members to elect a new leader
POLL = "0.2"  # seconds between two leader queries during the failover test


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.spec.components.etcd.version)
    members = cluster.etcd_members
    names = "、".join(n.name for n in members)
    intro = Text(
        zh=(
            f"etcd 保存集群的全部状态。本章在 {len(members)} 个成员（{names}）上部署一个 etcd {f.version} 集群："
            f"客户端端口 {CLIENT_PORT}、成员之间的 peer 端口 {PEER_PORT} 都使用 TLS，并且双向校验证书——"
            "没有集群 CA 签发的客户端证书，连不上 etcd。成员数为奇数，"
            f"{len(members)} 个成员允许 {(len(members) - 1) // 2} 个同时故障。"
        ),
        en=(
            f"etcd holds the whole state of the cluster. This chapter runs an etcd {f.version} cluster on "
            f"{len(members)} members ({', '.join(n.name for n in members)}): the client port {CLIENT_PORT} and the "
            f"members' peer port {PEER_PORT} both use TLS with certificates checked in both directions — without "
            f"a client certificate signed by the cluster CA nobody reaches etcd. {len(members)} members survive "
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
        ),
    )


def involved(cluster: Cluster) -> tuple[Node, ...]:
    """Every node that receives a file from this chapter: the members and the masters, in file order."""
    return tuple(n for n in cluster.spec.nodes if n in cluster.etcd_members or n in cluster.masters)


def runner(cluster: Cluster) -> Node:
    """The member etcdctl runs on: it has the binary and the etcdctl certificate."""
    return cluster.etcd_members[0]


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
    names += [APISERVER_CLIENT.name, ETCDCTL_CLIENT.name]
    verify = Command(
        shlex.join(["openssl", "verify", "-CAfile", pki_file(cluster, "ca.pem"),
                    *(pki_file(cluster, f"{n}.pem") for n in names)]),
        expect=r": OK$",
        example="\n".join(f"{pki_file(cluster, f'{n}.pem')}: OK" for n in names),
    )
    client_check = Command(
        shlex.join(["openssl", "x509", "-in", pki_file(cluster, f"{APISERVER_CLIENT.name}.pem"), "-noout",
                    "-subject", "-ext", "extendedKeyUsage"]),
        expect=rf"CN ?= ?{APISERVER_CLIENT.cn}(,|$)",
        example=subject_line(cluster, APISERVER_CLIENT.cn, APISERVER_CLIENT.org),
    )
    return Step(
        id=f"{ID}.cert",
        title=Text(zh="签发 etcd 证书", en="Issue the etcd certificates"),
        explain=Text(
            zh=(
                "所有证书都由集群 CA 签发，etcd 用同一个 CA 校验客户端与其他成员。每个成员两张证书："
                "`etcd-server-<成员>` 用于客户端端口 2379，`etcd-peer-<成员>` 用于成员之间的 2380 端口；"
                "两者都同时带 serverAuth 与 clientAuth（成员之间互为客户端与服务端），SAN 是该成员的 IP、"
                "主机名以及 127.0.0.1、localhost（与 kubeadm 相同）。每个成员一张证书，而不是所有成员共用一张："
                "某台机器的私钥泄露，也冒充不了别的成员。\n\n"
                f"两张客户端证书只带 clientAuth：`{APISERVER_CLIENT.name}`（CN `{APISERVER_CLIENT.cn}`）"
                f"给 kube-apiserver 使用，分发到每台 master；`{ETCDCTL_CLIENT.name}` 是运维人员用 etcdctl "
                "做健康检查时的身份，分发到每个成员。下面先用 openssl 校验证书链，再查看每张服务端证书的 SAN。"
            ),
            en=(
                "Every certificate is signed by the cluster CA, and etcd checks clients and other members against "
                "that same CA. Each member gets two: `etcd-server-<member>` for the client port 2379 and "
                "`etcd-peer-<member>` for the members' port 2380. Both carry serverAuth and clientAuth (members "
                "are each other's clients and servers); their SANs are the member's IP and host name plus "
                "127.0.0.1 and localhost (as kubeadm does). One certificate per member rather than one shared by "
                "all: a key stolen from one machine cannot impersonate another member.\n\n"
                f"Two client certificates carry clientAuth only: `{APISERVER_CLIENT.name}` (CN "
                f"`{APISERVER_CLIENT.cn}`) for kube-apiserver, copied to every master, and `{ETCDCTL_CLIENT.name}`, "
                "the operator's identity for etcdctl health checks, copied to every member. openssl then checks "
                "the chain and shows each server certificate's SANs."
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
            Show(f"{APISERVER_CLIENT.name}-csr.json", "json", (("", f"pki/{APISERVER_CLIENT.name}-csr.json"),)),
        ),
        local=(
            render(cluster, ID, "cert"),
            verify,
            *(san_check(cluster, server_spec(n).name, n.ip) for n in members),
            *(san_check(cluster, peer_spec(n).name, n.ip) for n in members),
            client_check,
        ),
    )


def unit_step(cluster: Cluster, f: EtcdFacts) -> Step:
    paths = Paths(cluster)
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
                f"数据在 `{paths.data_dir}`。`--client-cert-auth` 与 `--peer-client-cert-auth` 要求对端出示 CA "
                f"签发的证书；客户端地址同时监听本机 127.0.0.1{logger_zh}。`Type=notify`：etcd 加入法定多数"
                "（quorum）后才通知 systemd 启动完成。"
            ),
            en=(
                "One unit per member; only the name and the IP differ. `--initial-cluster` lists every member's "
                "peer URL; `--initial-cluster-state=new` and `--initial-cluster-token` are used only on the first "
                f"start (empty data directory); the data lives in `{paths.data_dir}`. `--client-cert-auth` and "
                "`--peer-client-cert-auth` demand a certificate signed by the CA from the other side; the client "
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
                "每个成员收到 CA、自己的 server 与 peer 证书、etcdctl 客户端证书和 unit；每台 master 收到 "
                f"`{APISERVER_CLIENT.name}` 证书，供 kube-apiserver 使用。一条 tar 管道按节点自己的目录结构复制，"
                "保留权限（私钥 0600）。然后检查每个私钥的权限。"
            ),
            en=(
                "Each member receives the CA, its own server and peer certificates, the etcdctl client "
                f"certificate and its unit; each master receives the `{APISERVER_CLIENT.name}` certificate for "
                "kube-apiserver. A tar pipe copies them in the node's own layout, keeping modes (0600 for keys). "
                "Then every key's mode is checked."
            ),
        ),
        per_node=for_each(involved(cluster), commands),
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


def status_step(cluster: Cluster) -> Step:
    return Step(
        id=f"{ID}.status",
        title=Text(zh="检查服务状态", en="Check the service is active"),
        explain=Text(
            zh=f"每个成员上的服务都应是 `active`。否则用 `journalctl -u {ID} --no-pager -n 50` 查看原因。",
            en=f"The service must be `active` on every member. If not, `journalctl -u {ID} --no-pager -n 50` "
            "shows why.",
        ),
        per_node=for_each(cluster.etcd_members,
                          lambda node: [on(cluster, node, f"systemctl is-active {ID}", r"^active$", "active")]),
    )


def etcdctl(cluster: Cluster, f: EtcdFacts, *args: str, members: tuple[Node, ...] = ()) -> str:
    """etcdctl on a member, as root (the keys are 0600), with the etcdctl client certificate.

    It asks every member, or only `members` when given.
    """
    paths = Paths(cluster)
    urls = ",".join(client_url(n) for n in members) if members else endpoints(cluster)
    return sudo(cluster) + shlex.join([
        *f.etcdctl_env, paths.etcdctl, f"--endpoints={urls}", f"--cacert={paths.ca}",
        f"--cert={paths.etcdctl_cert}", f"--key={paths.etcdctl_key}", *args,
    ])


def health_step(cluster: Cluster, f: EtcdFacts) -> Step:
    node = runner(cluster)
    env_zh = f"（etcd {f.version} 的 etcdctl 需要 `ETCDCTL_API=3`）" if f.etcdctl_env else ""
    env_en = f" (etcd {f.version}'s etcdctl needs `ETCDCTL_API=3`)" if f.etcdctl_env else ""
    names = "|".join(re.escape(n.name) for n in cluster.etcd_members)
    return Step(
        id=f"{ID}.health",
        title=Text(zh="检查集群健康", en="Check the cluster's health"),
        explain=Text(
            zh=(
                f"在 {node.name} 上用 etcdctl{env_zh}，以 `{ETCDCTL_CLIENT.name}` 证书逐个访问全部成员。"
                "每个成员都应报告 `is healthy`（它完成了一次经过 raft 的读请求）；任何一个不健康，命令就以非零退出。"
                "`member list` 列出成员的名字与地址，全部应为 `started`。"
            ),
            en=(
                f"On {node.name}, etcdctl{env_en} reaches every member with the `{ETCDCTL_CLIENT.name}` certificate. "
                "Every member must report `is healthy` (it served a read through raft); if any is not, the "
                "command exits non-zero. `member list` shows the members' names and URLs, all `started`."
            ),
        ),
        warnings=(
            Text(
                zh="不带客户端证书时 etcdctl 报 `context deadline exceeded`，etcd 日志里是 `tls: client didn't "
                "provide a certificate` 或 `bad certificate`：这是 `--client-cert-auth` 在起作用，补上 "
                "`--cert`/`--key`，不要关掉它。",
                en="Without a client certificate etcdctl says `context deadline exceeded` and etcd logs `tls: "
                "client didn't provide a certificate` or `bad certificate`: that is `--client-cert-auth` at work. "
                "Add `--cert`/`--key`; never turn it off.",
            ),
        ),
        per_node=((node, (
            on(cluster, node, etcdctl(cluster, f, "endpoint", "health"), expect=r"is healthy",
               example=f"{client_url(node)} is healthy: successfully committed proposal: took = 2.1ms"),
            on(cluster, node, etcdctl(cluster, f, "member", "list", "-w", "table"),
               expect=rf"started \| ({names}) \|",
               example=f"| 8e9e05c52164694d | started | {node.name} | https://{node.host}:2380 | {client_url(node)} "
                       "| false |"),
        )),),
    )


def endpoint_status_step(cluster: Cluster, f: EtcdFacts) -> Step:
    node = runner(cluster)
    return Step(
        id=f"{ID}.endpoint-status",
        title=Text(zh="查看各成员状态", en="Show each member's status"),
        explain=Text(
            zh=(
                "表格每行一个成员：ID、版本、数据库大小、是否 leader、raft term 与 index。恰好一行的 "
                "`IS LEADER` 为 `true`；各成员的 RAFT INDEX 应当接近。"
            ),
            en=(
                "One row per member: ID, version, database size, whether it leads, raft term and index. Exactly "
                "one row has `IS LEADER` `true`; the members' RAFT INDEX values should be close."
            ),
        ),
        per_node=((node, (
            on(cluster, node, etcdctl(cluster, f, "endpoint", "status", "-w", "table"), expect=r"\|\s+true\s+\|",
               example=f"| {client_url(node)} | 8e9e05c52164694d |  3.5.15 |  25 kB |      true |      false |"),
        )),),
    )


def snapshot_commands(cluster: Cluster, f: EtcdFacts, snapshot: str, keep: bool = False) -> tuple[Command, ...]:
    """Save a snapshot from the first member into `snapshot` (its directory made 0700), then read it back.

    `keep`: a snapshot already there is kept, not overwritten: the one taken before a change must stay the state
    from before it, however often the chapter runs again."""
    node = runner(cluster)
    save = f"{sudo(cluster)}install -d -m 0700 {shlex.quote(snapshot.rsplit('/', 1)[0])} && " + etcdctl(
        cluster, f, "snapshot", "save", snapshot, members=(node,))
    if keep:
        save = f"if [ -e {shlex.quote(snapshot)} ]; then echo 'Snapshot kept at {snapshot}'; else {save}; fi"
    return (
        on(cluster, node, save, expect=r"Snapshot (saved|kept) at", example=f"Snapshot saved at {snapshot}"),
        on(cluster, node, etcdctl(cluster, f, "snapshot", "status", snapshot, "-w", "table", members=(node,)),
           expect=r"TOTAL KEYS", example="|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |"),
    )


def backup_dir(cluster: Cluster) -> str:
    return f"{cluster.spec.paths.etcd_data_dir}-backup"


def snapshot_step(cluster: Cluster, f: EtcdFacts) -> Step:
    node = runner(cluster)
    snapshot = f"{backup_dir(cluster)}/snapshot.db"
    return Step(
        id=f"{ID}.snapshot",
        title=Text(zh="备份：保存快照", en="Back up: save a snapshot"),
        explain=Text(
            zh=(
                f"在做故障切换测试、升级或任何维护之前先备份。`snapshot save` 只能对一个成员执行，这里是 "
                f"{node.name}；快照写到 `{snapshot}`（目录权限 0700），再用 `snapshot status` 确认它可读、"
                "有 revision 和 key 数。重复执行会用最新数据覆盖这个文件。"
            ),
            en=(
                "Back up before the failover test, an upgrade or any maintenance. `snapshot save` works against "
                f"one member only, {node.name} here; the snapshot goes to `{snapshot}` (directory mode 0700), and "
                "`snapshot status` confirms it is readable and shows its revision and key count. Running it again "
                "overwrites the file with current data."
            ),
        ),
        warnings=(SNAPSHOT_WARNING,),
        per_node=((node, snapshot_commands(cluster, f, snapshot)),),
    )


SNAPSHOT_WARNING = Text(
    zh="快照包含集群的全部数据（包括 Secret）：把它复制到集群之外、权限受控的地方保存；只留在 etcd 节点上的"
    "备份会和节点一起丢失。恢复需要 `etcdctl snapshot restore`，并用新的 `--initial-cluster-token` "
    "重建全部成员。",
    en="A snapshot holds all the cluster's data (Secrets included): keep a copy outside the cluster, "
    "access-controlled; a backup left only on an etcd node is lost with the node. Restoring takes "
    "`etcdctl snapshot restore` and rebuilding every member with a new `--initial-cluster-token`.",
)


def leader_filter(cluster: Cluster) -> str:
    """Reduce `endpoint status -w fields` to the leader's node name: the block whose MemberID is its Leader.

    IDs are compared as strings: as numbers awk would round these 64-bit values to doubles.
    """
    names = " ".join(f'n["{client_url(n)}"]="{n.name}";' for n in cluster.etcd_members)
    awk = (f'BEGIN{{{names}}} $1=="\\"MemberID\\""{{m=$2}} $1=="\\"Leader\\""{{l=$2}} '
           '$1=="\\"Endpoint\\""{gsub(/"/, "", $2); if ((m "") == (l "")) print n[$2]}')
    return f"awk -F {shlex.quote(' : ')} {shlex.quote(awk)}"


def leader_query(cluster: Cluster, f: EtcdFacts, members: tuple[Node, ...] = ()) -> str:
    """The leader's node name, asked on the first of `members` (default: every member) of those members."""
    asked = members or cluster.etcd_members
    status = etcdctl(cluster, f, "--command-timeout=3s", "endpoint", "status", "-w", "fields", members=members)
    return f"{ssh_prefix(cluster, asked[0])} {shlex.quote(status + ' 2>/dev/null')} | {leader_filter(cluster)}"


def names_pattern(cluster: Cluster) -> str:
    return "(" + "|".join(re.escape(n.name) for n in cluster.etcd_members) + ")"


def leader_step(cluster: Cluster, f: EtcdFacts) -> Step:
    return Step(
        id=f"{ID}.leader",
        title=Text(zh="查看当前领导者（leader）", en="Show the current leader"),
        explain=Text(
            zh=(
                "`endpoint status -w fields` 对每个成员打印它自己的 `MemberID` 和它认为的 `Leader`；两者相等的"
                "那个成员就是 leader。awk 取出它的地址，sed 把地址换成主机名。"
            ),
            en=(
                "`endpoint status -w fields` prints, per member, its own `MemberID` and the `Leader` it sees; the "
                "member whose two are equal is the leader. awk picks its URL and sed turns the URL into the host "
                "name."
            ),
        ),
        local=(Command(leader_query(cluster, f), expect=rf"^{names_pattern(cluster)}$",
                       example=cluster.etcd_members[0].name),),
    )


def failover_script(cluster: Cluster, f: EtcdFacts) -> str:
    s = sudo(cluster)
    members = cluster.etcd_members
    branches = "\n".join(f"    {n.name}) {ssh_prefix(cluster, n)} \"$2\" ;;" for n in members)
    # Asking the stopped member would cost the whole --command-timeout on every try: ask the others only.
    without = "\n".join(
        f"    {n.name}) {leader_query(cluster, f, tuple(m for m in members if m != n))} ;;" for n in members)
    return "\n".join([
        f"leader() {{ {leader_query(cluster, f)}; }}",
        "leader_without() {",
        '  case "$1" in',
        without,
        "  esac",
        "}",
        "on_member() {",
        '  case "$1" in',
        branches,
        '    *) echo "not a member: $1" >&2; return 1 ;;',
        "  esac",
        "}",
        'old=$(leader); echo "leader before: $old"',
        '[ -n "$old" ] || { echo "no leader found"; exit 1; }',
        "t0=$(date +%s.%N)",
        f"on_member \"$old\" '{s}systemctl stop {ID}' & stopping=$!",
        f"end=$((SECONDS + {FAILOVER_WAIT}))",
        'while new=$(leader_without "$old"); { [ -z "$new" ] || [ "$new" = "$old" ]; } && [ $SECONDS -lt $end ]; '
        f"do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        "wait $stopping",
        'echo "leader after: $new"',
        f"on_member \"$old\" '{s}systemctl start {ID}'",
        f'[ -n "$new" ] && [ "$new" != "$old" ] || {{ echo "no new leader within {FAILOVER_WAIT} s"; exit 1; }}',
        'awk -v a="$t0" -v b="$t1" \'BEGIN { printf "measured: etcd_leader_failover_seconds=%.3f\\n", b - a }\'',
    ])


def failover_step(cluster: Cluster, f: EtcdFacts) -> Step:
    return Step(
        id=f"{ID}.failover",
        title=Text(zh="故障切换测试", en="Failover test"),
        explain=Text(
            zh=(
                "停止 leader 上的 etcd，每 0.2 秒查询一次，等待剩下的成员选出新 leader（通常一两秒：选举超时默认 "
                "1 秒），然后重新启动它，它以 follower 身份归队。停止命令在后台执行，查询同时开始，只问其余成员"
                "（问已停止的成员，每次都要等满 `--command-timeout`）。脚本打印前后的 leader，并用 `date +%s.%N` "
                "记下停止之前与查到新 leader 时的时刻，打印 `measured: etcd_leader_failover_seconds=…`，"
                f"部署记录会保存这个数字；{FAILOVER_WAIT} 秒内没有换 leader 则失败。"
                f"{len(cluster.etcd_members)} 个成员停一个，仍有多数，集群全程可写。"
            ),
            en=(
                "Stop etcd on the leader, ask every 0.2 s until the remaining members have elected a new one "
                "(usually a second or two: the election timeout defaults to 1 s), then start it again; it rejoins "
                "as a follower. The stop runs in the background while the queries start, and only the other "
                "members are asked (asking the stopped one would cost the whole `--command-timeout` every time). "
                "The script prints the leader before and after, notes with `date +%s.%N` the "
                "moment before the stop and the moment the new leader is reported, and prints "
                "`measured: etcd_leader_failover_seconds=…`, which the deploy run record keeps; it fails if no "
                f"other leader appeared within {FAILOVER_WAIT} s. With one of {len(cluster.etcd_members)} members "
                "down a majority remains, so the cluster stays writable throughout."
            ),
        ),
        warnings=(
            Text(
                zh="在生产集群上做这个测试前确认所有成员都健康：已经少一个成员时再停 leader，就失去多数，"
                "kube-apiserver 的写请求全部失败。",
                en="Check every member is healthy before running this on a production cluster: with one member "
                "already down, stopping the leader loses the majority and every kube-apiserver write fails.",
            ),
        ),
        local=(Command(failover_script(cluster, f), expect=rf"^leader after: {names_pattern(cluster)}$",
                       example=failover_example(cluster.etcd_members, "etcd_leader_failover_seconds")),),
    )
