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
from generator.components.prerequisites.files import downloads, etcd_bin_dir, workstation_kubectl
from generator.model import Cluster, Node
from generator.steps import Command, Step, for_each, on, remote, sudo
from generator.text import Texts, enumeration

TEXT = Texts.of_component(__file__)


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
        source = TEXT("prerequisites.kube-binaries", "source-offline", tarball=tarball)
    elif f.published_sha256:
        source = TEXT("prerequisites.kube-binaries", "source-published", url=url)
    else:
        source = TEXT("prerequisites.kube-binaries", "source-unpublished", url=url)
    return Step(
        **TEXT.step("prerequisites.kube-binaries", binaries=", ".join(KUBE_BINARIES), unpacked=kube_bin(cluster),
                    cluster=cluster, kubectl=kubectl, source=source),
        local=tuple(commands),
        needs_kube_binaries=True,
    )


def install(cluster: Cluster, node: Node, source_dir: str, names: tuple[str, ...], target: str) -> Command:
    """A tar pipe: the named files from `source_dir` on the workstation into `target` on the node."""
    s = sudo(cluster)
    local = shlex.join(["tar", "-C", source_dir, "-cf", "-", *names])
    unpack = f"{s}mkdir -p {shlex.quote(target)} && {s}tar -C {shlex.quote(target)} -xf - --no-same-owner"
    return Command(f"{local} | {remote(cluster, node, unpack)}")


def installed_check(cluster: Cluster, node: Node) -> Command:
    """On the node: the three daemons' `--version`; exactly three lines must name the cluster's release."""
    loop = (f"for b in {' '.join(KUBE_DAEMONS)}; do {shlex.quote(cluster.spec.paths.bin_dir)}/$b --version; done "
            f'| grep -cx "Kubernetes {cluster.release.tag}"')
    return on(cluster, node, loop, expect=rf"^{len(KUBE_DAEMONS)}$", example=str(len(KUBE_DAEMONS)))


def kube_install_step(cluster: Cluster) -> Step:
    bin_dir = cluster.spec.paths.bin_dir
    return Step(
        **TEXT.step("prerequisites.kube-install", binaries=", ".join(KUBE_BINARIES), bin_dir=bin_dir, cluster=cluster),
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
        source = TEXT("prerequisites.etcd-binaries", "source-offline", tarball=tarball, url=etcd_sums_url(version))
    else:
        awk = f"$2 == {awk_string(name)} {{print $1}}"
        commands += [
            Command(shlex.join(["curl", "-fL", "--create-dirs", "-o", tarball, etcd_url(version)])),
            Command(f'echo "$(curl -fsSL {shlex.quote(etcd_sums_url(version))} | awk {shlex.quote(awk)})  '
                    f'{shlex.quote(tarball)}" | sha256sum -c', expect=r": OK$", example=f"{tarball}: OK"),
        ]
        source = TEXT("prerequisites.etcd-binaries", "source-download", url=etcd_url(version))
    top = etcd_tarball(version).removesuffix(".tar.gz")
    binaries = etcd_binaries(version)
    commands.append(Command(f"mkdir -p {shlex.quote(etcd_dir(cluster))} && " + shlex.join(
        ["tar", "-xzf", tarball, "-C", etcd_dir(cluster), *(f"{top}/{b}" for b in binaries)])))
    v = etcd_version(version)
    commands.append(Command(shlex.join([f"{etcd_unpacked(cluster)}/etcd", "--version"]),
                            expect=rf"^etcd Version: {re.escape(v)}$", example=f"etcd Version: {v}"))
    return Step(
        **TEXT.step("prerequisites.etcd-binaries", v=v, source=source, binaries=enumeration(binaries)),
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
        **TEXT.step("prerequisites.etcd-install", target=target, v=v, binaries=enumeration(binaries)),
        per_node=for_each(cluster.etcd_members, lambda node: [
            install(cluster, node, etcd_unpacked(cluster), binaries, target),
            on(cluster, node, f"{shlex.quote(target)}/etcd --version", expect=rf"^etcd Version: {re.escape(v)}$",
               example=f"etcd Version: {v}"),
        ]),
    )
