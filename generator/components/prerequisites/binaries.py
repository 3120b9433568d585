"""The prerequisites' release binaries: Kubernetes' and etcd's, fetched on the workstation (or taken from a tarball
already there), checked against their published hashes and versions, and pushed to the nodes through a tar pipe."""

from __future__ import annotations

import re
import shlex

from generator.components.prerequisites.facts import (
    KUBE_BINARIES,
    KUBE_DAEMONS,
    SERVER_TARBALL,
    DownloadFacts,
    etcd_binaries,
    etcd_sums_url,
    etcd_tarball,
    etcd_url,
    etcd_version,
    server_url,
)
from generator.components.prerequisites.files import ID, downloads, etcd_bin_dir, workstation_kubectl
from generator.model import Cluster, Node
from generator.steps import Command, Step, Text, for_each, on, ssh_prefix, sudo


def kube_dir(cluster: Cluster) -> str:
    return f"{downloads(cluster)}/{cluster.release.tag}"


def kube_tarball(cluster: Cluster) -> str:
    return cluster.spec.prerequisites.server_tarball or f"{kube_dir(cluster)}/{SERVER_TARBALL}"


def kube_bin(cluster: Cluster) -> str:
    return f"{kube_dir(cluster)}/kubernetes/server/bin"


def sha256_of(tarball: str) -> Command:
    return Command(f"sha256sum {shlex.quote(tarball)}", expect=r"^[0-9a-f]{64} ",
                   example=f"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  {tarball}")


def version_line(cluster: Cluster) -> str:
    return rf"^Kubernetes {re.escape(cluster.release.tag)}$"


def kube_download_step(cluster: Cluster, f: DownloadFacts) -> Step:
    offline = bool(cluster.spec.prerequisites.server_tarball)
    tarball = kube_tarball(cluster)
    url = server_url(cluster.release)
    commands: list[Command] = []
    if offline:
        commands.append(sha256_of(tarball))
    else:
        commands.append(Command(shlex.join(["curl", "-fL", "--create-dirs", "-o", tarball, url])))
        if f.published_sha256:
            commands.append(Command(f'echo "$(curl -fsSL {shlex.quote(url + ".sha256")})  {shlex.quote(tarball)}" '
                                    "| sha256sum -c", expect=r": OK$", example=f"{tarball}: OK"))
        else:
            commands.append(sha256_of(tarball))
    members = [f"kubernetes/server/bin/{b}" for b in KUBE_BINARIES]
    commands.append(Command(f"mkdir -p {shlex.quote(kube_dir(cluster))} && "
                            + shlex.join(["tar", "-xzf", tarball, "-C", kube_dir(cluster), *members])))
    commands += [Command(shlex.join([f"{kube_bin(cluster)}/{b}", "--version"]), expect=version_line(cluster),
                         example=f"Kubernetes {cluster.release.tag}") for b in KUBE_DAEMONS]
    kubectl = workstation_kubectl(cluster)
    commands += [
        Command(shlex.join(["install", "-D", "-m", "0755", f"{kube_bin(cluster)}/kubectl", kubectl])),
        Command(shlex.join([kubectl, "version", "--client", "-o", "json"]),
                expect=rf'"gitVersion": "{re.escape(cluster.release.tag)}"',
                example=f'    "gitVersion": "{cluster.release.tag}",'),
    ]
    if offline:
        source_zh = (f"离线安装：集群文件的 `prerequisites.server_tarball` 指向运维机上已有的 `{tarball}`，"
                     "不下载。请把 `sha256sum` 打印的哈希与该版本 CHANGELOG 里公布的值比对。")
        source_en = (f"Offline install: `prerequisites.server_tarball` in the cluster file names `{tarball}`, "
                     "already on the workstation; nothing is downloaded. Compare the hash `sha256sum` prints with "
                     "the one the release's CHANGELOG lists.")
    elif f.published_sha256:
        source_zh = (f"从 `{url}` 下载（与种子 004 相同的发布包），再用 dl.k8s.io 同目录的 `.sha256` 文件校验，"
                     "`sha256sum -c` 输出 `OK` 才继续。")
        source_en = (f"Download `{url}` (the release tarball seed 004 uses) and check it against the `.sha256` file "
                     "dl.k8s.io publishes beside it: `sha256sum -c` must say `OK`.")
    else:
        source_zh = (f"从 `{url}` 下载（与种子 004 相同的发布包）。这个版本的 dl.k8s.io 还没有 `.sha256` 文件，"
                     "请把打印的哈希与该版本 CHANGELOG 里的值比对。")
        source_en = (f"Download `{url}` (the release tarball seed 004 uses). dl.k8s.io publishes no `.sha256` "
                     "file for this release yet: compare the printed hash with the one in its CHANGELOG.")
    return Step(
        id=f"{ID}.kube-binaries",
        title=Text(zh="获取 Kubernetes 服务端二进制", en="Fetch the Kubernetes server binaries"),
        explain=Text(
            zh=(
                f"{source_zh} 只解压需要的四个文件（{', '.join(KUBE_BINARIES)}）到 `{kube_bin(cluster)}`，"
                f"然后运行每个服务的 `--version`，必须是 `Kubernetes {cluster.release.tag}`。"
                f"kubectl 另装到 `{kubectl}`：本手册在运维机上的每条 kubectl 命令都用它，而不是 PATH 里的 kubectl——"
                "kubectl 与 kube-apiserver 最多只能相差一个小版本，有些镜像里的 kubectl 还是个在每条命令前都会连接"
                "kubeconfig 中服务器的转发程序。"
                "这一步在运维机上运行这些 linux/amd64 程序，所以运维机也应是 linux/amd64。"
            ),
            en=(
                f"{source_en} Only the four files needed ({', '.join(KUBE_BINARIES)}) are unpacked, into "
                f"`{kube_bin(cluster)}`; each daemon's `--version` must then print `Kubernetes "
                f"{cluster.release.tag}`. kubectl is also installed as `{kubectl}`: every kubectl command this "
                "runbook runs on the workstation uses it, never the kubectl on PATH — kubectl supports only one "
                "minor release of skew against kube-apiserver, and some images put a dispatcher there that "
                "contacts the kubeconfig's server before every command. That runs these linux/amd64 programs on "
                "the workstation, so it should be linux/amd64 too."
            ),
        ),
        local=tuple(commands),
        needs_kube_binaries=True,
    )


def install(cluster: Cluster, node: Node, source_dir: str, names: tuple[str, ...], target: str) -> Command:
    """A tar pipe: the named files from `source_dir` on the workstation into `target` on the node."""
    s = sudo(cluster)
    local = shlex.join(["tar", "-C", source_dir, "-cf", "-", *names])
    remote = f"{s}mkdir -p {shlex.quote(target)} && {s}tar -C {shlex.quote(target)} -xf - --no-same-owner"
    return Command(f"{local} | {ssh_prefix(cluster, node)} {shlex.quote(remote)}")


def installed_check(cluster: Cluster, node: Node) -> Command:
    """On the node: the three daemons' `--version`; exactly three lines must name the cluster's release."""
    loop = (f"for b in {' '.join(KUBE_DAEMONS)}; do {shlex.quote(cluster.spec.paths.bin_dir)}/$b --version; done "
            f'| grep -cx "Kubernetes {cluster.release.tag}"')
    return on(cluster, node, loop, expect=rf"^{len(KUBE_DAEMONS)}$", example=str(len(KUBE_DAEMONS)))


def kube_install_step(cluster: Cluster) -> Step:
    bin_dir = cluster.spec.paths.bin_dir
    return Step(
        id=f"{ID}.kube-install",
        title=Text(zh="把 Kubernetes 二进制推送到每台 master", en="Push the Kubernetes binaries to every master"),
        explain=Text(
            zh=(
                f"一条 tar 管道把 {', '.join(KUBE_BINARIES)} 复制到每台 master 的 `{bin_dir}`，保留可执行权限，"
                f"每台只连一次 ssh。然后在节点上运行三个服务的 `--version`，数出 `Kubernetes {cluster.release.tag}` "
                "必须正好三行。"
            ),
            en=(
                f"One tar pipe copies {', '.join(KUBE_BINARIES)} into `{bin_dir}` on every master, keeping the "
                f"execute bits, one ssh connection per master. Then the node runs the three daemons' `--version`; "
                f"exactly three lines must read `Kubernetes {cluster.release.tag}`."
            ),
        ),
        per_node=for_each(cluster.masters, lambda node: [
            install(cluster, node, kube_bin(cluster), KUBE_BINARIES, bin_dir), installed_check(cluster, node),
        ]),
        needs_kube_binaries=True,
    )


def etcd_dir(cluster: Cluster) -> str:
    return f"{downloads(cluster)}/etcd-v{etcd_version(cluster.spec.components.etcd.version)}"


def etcd_unpacked(cluster: Cluster) -> str:
    return f"{etcd_dir(cluster)}/{etcd_tarball(cluster.spec.components.etcd.version).removesuffix('.tar.gz')}"


def etcd_download_step(cluster: Cluster) -> Step:
    version = cluster.spec.components.etcd.version
    name = etcd_tarball(version)
    given = cluster.spec.prerequisites.etcd_tarball
    tarball = given or f"{etcd_dir(cluster)}/{name}"
    commands: list[Command] = []
    if given:
        commands.append(sha256_of(tarball))
        source_zh = (f"离线安装：`prerequisites.etcd_tarball` 指向运维机上已有的 `{tarball}`。请把打印的哈希与 "
                     f"`{etcd_sums_url(version)}` 中的值比对。")
        source_en = (f"Offline install: `prerequisites.etcd_tarball` names `{tarball}`, already on the workstation. "
                     f"Compare the printed hash with the one in `{etcd_sums_url(version)}`.")
    else:
        awk = f"$2 == {awk_string(name)} {{print $1}}"
        commands += [
            Command(shlex.join(["curl", "-fL", "--create-dirs", "-o", tarball, etcd_url(version)])),
            Command(f'echo "$(curl -fsSL {shlex.quote(etcd_sums_url(version))} | awk {shlex.quote(awk)})  '
                    f'{shlex.quote(tarball)}" | sha256sum -c', expect=r": OK$", example=f"{tarball}: OK"),
        ]
        source_zh = (f"从 GitHub 下载 `{etcd_url(version)}`，再用同一发布里的 `SHA256SUMS` 校验。")
        source_en = (f"Download `{etcd_url(version)}` from GitHub and check it against the `SHA256SUMS` file of "
                     "the same release.")
    top = etcd_tarball(version).removesuffix(".tar.gz")
    binaries = etcd_binaries(version)
    commands.append(Command(f"mkdir -p {shlex.quote(etcd_dir(cluster))} && " + shlex.join(
        ["tar", "-xzf", tarball, "-C", etcd_dir(cluster), *(f"{top}/{b}" for b in binaries)])))
    v = etcd_version(version)
    commands.append(Command(shlex.join([f"{etcd_unpacked(cluster)}/etcd", "--version"]),
                            expect=rf"^etcd Version: {re.escape(v)}$", example=f"etcd Version: {v}"))
    return Step(
        id=f"{ID}.etcd-binaries",
        title=Text(zh="获取 etcd 二进制", en="Fetch the etcd binaries"),
        explain=Text(
            zh=f"{source_zh} 只解压 {'、'.join(binaries)}，`etcd --version` 必须是 `{v}`"
            "（集群文件的 components.etcd.version）。",
            en=f"{source_en} Only {', '.join(binaries)} are unpacked; `etcd --version` must print `{v}` (the "
            "cluster file's components.etcd.version).",
        ),
        local=tuple(commands),
    )


def awk_string(text: str) -> str:
    """An awk string literal (the names here are plain file names)."""
    return '"' + text + '"'


def etcd_install_step(cluster: Cluster) -> Step:
    target = etcd_bin_dir(cluster)
    v = etcd_version(cluster.spec.components.etcd.version)
    binaries = etcd_binaries(v)
    return Step(
        id=f"{ID}.etcd-install",
        title=Text(zh="把 etcd 二进制推送到每个 etcd 成员", en="Push the etcd binaries to every etcd member"),
        explain=Text(
            zh=f"tar 管道把 {'、'.join(binaries)} 复制到每个 etcd 成员的 `{target}`，再在节点上确认版本为 `{v}`。",
            en=f"A tar pipe copies {', '.join(binaries)} into `{target}` on every etcd member; the node then "
            f"confirms version `{v}`.",
        ),
        per_node=for_each(cluster.etcd_members, lambda node: [
            install(cluster, node, etcd_unpacked(cluster), binaries, target),
            on(cluster, node, f"{shlex.quote(target)}/etcd --version", expect=rf"^etcd Version: {re.escape(v)}$",
               example=f"etcd Version: {v}"),
        ]),
    )
