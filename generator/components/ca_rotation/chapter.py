"""The CA rotation chapter: three rounds (trust both, re-issue, drop the old), each a phase entered and rendered,
then one rolling round over etcd members and masters behind the health gate, inside one request loop through the
VIP. The phases are generator/rotation.py's; the rolling round is the renewal chapter's, plus the controller
manager's unit (its signing flag moves to ca-signer.pem and back)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import replace

from generator import daemons, day2, rotation
from generator.artifacts import Artifact
from generator.components import planned, rollout
from generator.components.kube_controller_manager.files import Paths as ControllerManagerPaths
from generator.components.renewal.chapter import changes as renewal_changes
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, Text, find_step

ID = day2.CA_ROTATION
NUMBER = 14
DROP_WARNING = Text(
    zh=("不可撤销：这一步之后，只信任新 CA。任何仍持有旧 CA 签发的证书的东西（例如 kubelet 的客户端证书、运维机之外"
        "的 kubeconfig）都会被 apiserver 拒绝（401）。旧 CA 的证书与私钥保留在 `pki/archive/`，不会被删除；"
        "`invoke deploy` 要加 `--allow-destructive` 才执行这一步。"),
    en=("Cannot be undone: after this step only the new CA is trusted. Anything still holding a certificate the old CA "
        "signed (a kubelet's client certificate, a kubeconfig kept outside the workstation) is refused by the "
        "apiservers (401). The old CA's certificate and key stay in `pki/archive/`, never deleted; `invoke deploy` "
        "runs this step only with `--allow-destructive`."),
)
ROUNDS = {
    "trust": (
        Text(zh="第一轮：同时信任新旧两个 CA", en="Round 1: trust both CAs"),
        Text(zh=("在旧 CA 旁边生成新的集群 CA（`pki/ca-next.pem`，私钥 0600，只生成一次，以后从不重新生成），并把旧 CA "
                 "的证书与私钥复制到 `pki/archive/`。渲染后，凡是用集群 CA 校验对方的文件都同时含有两个 CA："
                 "运维机与每台 master 的 `ca.pem`（kube-apiserver 的 `--client-ca-file`，控制器管理器与调度器的 "
                 "`--client-ca-file`、`--root-ca-file`）、每个 kubeconfig 的 `certificate-authority-data`。旧 CA 仍"
                 "负责签名；控制器管理器的 `--cluster-signing-cert-file` 只接受一张证书，所以改指向 "
                 "`ca-signer.pem`（签名 CA 自己）。"),
             en=("Make the new cluster CA beside the old one (`pki/ca-next.pem`, key 0600, made once and never made "
                 "again) and copy the old CA's certificate and key into `pki/archive/`. Once rendered, every file "
                 "that verifies with the cluster CA holds both CAs: `ca.pem` on the workstation and on every master "
                 "(kube-apiserver's `--client-ca-file`, the controller manager's and the scheduler's "
                 "`--client-ca-file` and `--root-ca-file`) and every kubeconfig's `certificate-authority-data`. The "
                 "old CA still signs; the controller manager's `--cluster-signing-cert-file` takes exactly one "
                 "certificate, so it now names `ca-signer.pem` (the signing CA alone).")),
    ),
    "reissue": (
        Text(zh="第二轮：用新 CA 重新签发", en="Round 2: re-issue with the new CA"),
        Text(zh=("新 CA 开始签名：这个信任域的每张叶子证书用原来的私钥由新 CA 重新签发（私钥不变，只有签名者、序列号"
                 "与有效期变了），kubeconfig 随之更新；控制器管理器的签名 CA 与私钥换成新的。所有校验方从第一轮起就"
                 "信任两个 CA，所以新旧证书在推送过程中混用也都被接受。输出的 `note:` 行逐个说明重新签发了哪张"
                 "（`signed by another cluster CA`）。"),
             en=("The new CA signs: every leaf certificate of the domain is issued again by it with its own key (the "
                 "keys stay; only the signer, serial and validity change) and the kubeconfigs with them; the "
                 "controller manager's signing CA and key become the new ones. Every verifier has trusted both CAs "
                 "since round 1, so old and new certificates mixed during the rollout are all accepted. The "
                 "render's `note:` lines name each certificate issued again (`signed by another cluster CA`).")),
    ),
    "drop": (
        Text(zh="第三轮：去掉旧 CA", en="Round 3: drop the old CA"),
        Text(zh=("新 CA 成为 `pki/ca.pem`/`pki/ca-key.pem`，所有校验方只信任它；控制器管理器的签名文件回到 "
                 "`ca.pem`。旧 CA 留在 `pki/archive/`。之后执行本章的任何一步都不会再改变什么：渲染会说轮换已完成，"
                 "然后删除集群文件的 `ca_rotation` 一节。"),
             en=("The new CA becomes `pki/ca.pem`/`pki/ca-key.pem` and every verifier trusts it alone; the controller "
                 "manager's signing file is `ca.pem` again. The old CA stays in `pki/archive/`. From now on every "
                 "step of this chapter changes nothing: the render says the rotation is done; then delete the "
                 "cluster file's `ca_rotation` section.")),
    ),
}
# What each round's render says (the counts are the example cluster's).
RENDERED = {
    "trust": ("rotation phase trust: every ca.pem and kubeconfig trusts the old and the new CA",
              "3 created, 15 updated, 151 unchanged"),
    "reissue": ("rotation phase reissue: the new CA signs (leaves issued again, same keys); everything still trusts "
                "both", "31 updated, 138 unchanged"),
    "drop": ("rotation done (phase drop reached; the old CA is in pki/archive/)", "14 updated, 152 unchanged"),
}


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []  # it pushes what the other components render in the rotation's phase


def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) != ID:
        return None
    rounds = [step for phase in rotation.PHASES for step in (phase_step(cluster, phase), roll_step(cluster, phase))]
    return Chapter(
        id=ID,
        number=NUMBER,
        title=Text(zh="轮换集群 CA", en="Rotate the cluster CA"),
        intro=Text(
            zh=("集群 CA 快到期或私钥泄露时，要换掉 CA 本身，而集群一直可用：先让每个校验方同时信任新旧两个 CA，"
                "再用新 CA 重新签发每张叶子证书，最后去掉旧 CA。每一轮都是先进入这一阶段并渲染，再一次一台节点"
                "推送变化了的文件并重启读取它们的服务，每个服务之后都要通过健康门槛；全程在后台经 VIP 发请求计数。"
                "阶段记在 `pki/rotation.json`，只会前进，所以轮次之间的普通渲染照样产生这一阶段的文件，成功后再执行"
                "一次也不会改变任何东西。只有第三轮不可撤销，需要 `--allow-destructive`。etcd CA 与前端代理 CA "
                "不在本章轮换。"),
            en=("When the cluster CA nearly expires or its key leaked, the CA itself must be replaced while the "
                "cluster stays available: first every verifier trusts both the old and the new CA, then every leaf "
                "is issued again by the new one, then the old CA is dropped. Each round enters its phase and "
                "renders, then one node at a time pushes the files that changed and restarts the services that "
                "read them, each passing the health gate; requests through the VIP are counted in the background "
                "throughout. The phase is kept in `pki/rotation.json` and only moves forward, so ordinary renders "
                "between rounds keep producing the phase's files and running the chapter again after it succeeded "
                "changes nothing. Only round 3 cannot be undone and needs `--allow-destructive`. The etcd and "
                "front-proxy CAs are not rotated by this chapter."),
        ),
        steps=(
            rollout.request_loop_start(cluster, ID, ID),
            *rounds,
            rollout.request_loop_stop(cluster, ID, ID),
            replace(find_step(build, "verification.certificates"), id=f"{ID}.certificates"),
        ),
    )


def phase_step(cluster: Cluster, phase: str) -> Step:
    title, explain = ROUNDS[phase]
    # Entered once; a re-run says the phase (or the whole rotation) was reached already and changes nothing.
    enter = Command(shlex.join(["invoke", "rotate-ca", "--cluster", cluster.ref, "--phase", phase]),
                    expect=rf"^cluster CA: (rotation phase {phase} \(|phase \w+ reached already|the rotation is "
                           "done)",
                    example=f"cluster CA: rotation phase {phase} (recorded in {rotation.STATE}); render to write its "
                            "files")
    note, counts = RENDERED[phase]
    render = replace(planned.render_all(cluster),
                     example=f"  note: cluster CA: {note}\nrendered {cluster.name} ({cluster.release}) into "
                             f"build/{cluster.name}/: {counts}")
    return Step(
        id=f"{ID}.{phase}",
        title=title,
        explain=explain,
        local=(enter, render),
        destructive=DROP_WARNING if phase == "drop" else None,
    )


def changes(cluster: Cluster, node: Node) -> list[rollout.Change]:
    """The renewal chapter's (certificates, keys, kubeconfigs per service), and the controller manager's unit and
    ca-signer.pem: a rotation moves its signing flag."""
    kcm = ControllerManagerPaths(cluster)
    extra = (kcm.rotation_signer, kcm.unit)
    signer = daemons.KUBE_CONTROLLER_MANAGER.unit
    return [replace(c, files=tuple(dict.fromkeys((*c.files, *extra)))) if c.unit == signer else c
            for c in renewal_changes(cluster, node)]


def roll_step(cluster: Cluster, phase: str) -> Step:
    title = ROUNDS[phase][0]
    step = rollout.rolling_step(
        cluster, f"{ID}.{phase}-restart",
        Text(zh=f"{title.zh}：逐台推送并重启", en=f"{title.en}: push and restart, one node at a time"),
        Text(
            zh=("一次一台节点，按 etcd、kube-apiserver、控制器管理器、调度器的顺序：这个服务读取的证书、私钥、"
                "kubeconfig（控制器管理器还有它的 unit 与 `ca-signer.pem`）与 build 目录里的不同，才推送并重启它，"
                "然后等它通过健康门槛。文件都相同的节点只检查健康。"),
            en=("One node at a time, in the order etcd, kube-apiserver, controller manager, scheduler: a service "
                "whose certificates, keys or kubeconfigs (and for the controller manager its unit and "
                "`ca-signer.pem`) differ from the build directory's has them pushed and is restarted, then must "
                "pass the health gate. A node whose files are all equal is only checked."),
        ),
        cluster.control_plane, lambda node: changes(cluster, node), f"ca_{phase}",
    )
    return replace(step, destructive=DROP_WARNING) if phase == "drop" else step

