"""The step catalog's types, and the few shell shapes every chapter's commands are built from."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from generator import pki, trust
from generator.artifacts import on_node, rel_build
from generator.model import Cluster, Node
from generator.shell_fold import fold
from generator.text import Text


@dataclass(frozen=True)
class Command:
    """A shell command run with bash from the repository root; a line longer than the page's width is folded with
    `\\` continuations when it is made (generator/shell_fold.py), so what runs is what the page shows.

    `expect` is a regex its output must match (the executor's check); `example` is what a reader should see, a
    sample of that output shown on the page (it must match `expect` too: tests/test_catalog.py). `renders` names
    the (component, phase) an `invoke render` command writes, so the page can show the by-hand equivalent.
    `on` names the node that runs the whole command (`on(...)`: the workstation only opens the ssh session); the
    page says where each block runs from it and from the ssh targets in the text (generator/where.py).
    """

    run: str
    expect: str | None = None
    example: str | None = None
    renders: tuple[str, str] | None = None
    on: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", fold(self.run))


@dataclass(frozen=True)
class Script:
    """A named script: logic that is long because it is logic (a health gate, a loop over nodes), written by every
    render to build/<cluster>/bin/<name>, shown once on the cluster's scripts page with its title and explanation,
    and called by name in steps (`bash build/<cluster>/bin/<name> ARGS`, from the repository root). Its text is
    folded like a command's."""

    name: str
    title: Text
    explain: Text
    body: str
    directory: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", fold(self.body))

    @property
    def path(self) -> str:
        return f"{self.directory}/{self.name}"

    def call(self, *args: str) -> str:
        return shlex.join(["bash", self.path, *args])

    def function(self, name: str) -> str:
        """A one-line shell function `name` that runs this script with its arguments."""
        return f'{name}() {{ {self.call()} "$@"; }}'


def script_header(purpose: str) -> list[str]:
    """A named script's first lines: bash, what it does (the page explains it in both languages), and the
    pipefail its lines had when they ran inline (the executor's `bash -o pipefail -c`)."""
    return ["#!/usr/bin/env bash", f"# {purpose}", "# Run from the repository root, as every command of the runbook.",
            "set -o pipefail"]


def scripts_dir(cluster: Cluster) -> str:
    return f"{rel_build(cluster)}/bin"


@dataclass(frozen=True)
class Show:
    """A public artifact shown on the page (not executed); `per_node` shows one tab per node."""

    name: str
    lang: str
    paths: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Step:
    """`per_node` groups run in parallel, or one node after another (in order, stopping at the first failure) when
    `serial`: a rolling change. `destructive` says what cannot be undone; such a step runs only when asked
    explicitly (`--allow-destructive`), and its page says why."""

    id: str
    title: Text
    explain: Text
    warnings: tuple[Text, ...] = ()
    shows: tuple[Show, ...] = ()
    local: tuple[Command, ...] = ()
    per_node: tuple[tuple[Node, tuple[Command, ...]], ...] = ()
    needs_kube_binaries: bool = False
    serial: bool = False
    destructive: Text | None = None


@dataclass(frozen=True)
class Chapter:
    id: str
    number: int
    title: Text
    intro: Text
    steps: tuple[Step, ...] = field(default_factory=tuple)
    # A notebook serves every cluster: where the page's title names this cluster's releases or nodes, this one doesn't.
    notebook_title: Text | None = None

    @property
    def page(self) -> str:
        return f"{self.number:02d}-{self.id}"


def find_step(chapters: Sequence[Chapter], step_id: str) -> Step:
    """The step `step_id` of these chapters; KeyError naming every step there is, when none has that id."""
    for chapter in chapters:
        for step in chapter.steps:
            if step.id == step_id:
                return step
    known = ", ".join(s.id for ch in chapters for s in ch.steps)
    raise KeyError(f"no step {step_id!r}; steps: {known}")


def sudo(cluster: Cluster) -> str:
    return "" if cluster.spec.ssh.user == "root" else "sudo "


def ssh_options(cluster: Cluster, *first: str) -> list[str]:
    """`ssh` and its options as the cluster file says; `first`: options that win over the file's (ssh keeps the
    first value it is given for an option)."""
    ssh = cluster.spec.ssh
    parts = ["ssh", *(arg for option in first for arg in ("-o", option))]
    if ssh.port != 22:
        parts += ["-p", str(ssh.port)]
    for option in ssh.options:
        parts += ["-o", option]
    return parts


def ssh_target(cluster: Cluster, node: Node) -> str:
    """`user@address`: how every ssh of the runbook names a node (generator/where.py finds nodes by it)."""
    return f"{cluster.spec.ssh.user}@{node.ip}"


def ssh_prefix(cluster: Cluster, node: Node) -> str:
    return shlex.join([*ssh_options(cluster), ssh_target(cluster, node)])


def remote(cluster: Cluster, node: Node, command: str, indent: str = "") -> str:
    """`ssh … user@node 'command'`: a long command is folded inside its quotes, where the node's shell reads the
    continuations, each line fitting the page once quoted. `indent`: that of the line the result will start
    (continued lines go past it), when that is not a line of its own."""
    prefix = fold(f"{indent}{ssh_prefix(cluster, node)} '", indent=indent).removeprefix(indent).removesuffix("'")
    column = len(indent) + len(prefix) - prefix.rfind("\n") - 1
    return prefix + shlex.quote(fold(command, first=column + 1, quoted=True, indent=indent))


def on(cluster: Cluster, node: Node, command: str, expect: str | None = None, example: str | None = None) -> Command:
    """Run `command` on `node` over ssh as the cluster's SSH user."""
    return Command(remote(cluster, node, command), expect, example, on=node.name)


def push(cluster: Cluster, node: Node, absolute_paths: list[str]) -> Command:
    """Copy the node's files from its build tree to the same absolute paths on the node.

    A tar stream keeps each file's mode (0600 for keys), creates missing directories and needs one
    connection per node; files are listed explicitly so nothing else in the tree travels.
    """
    root = f"{rel_build(cluster)}/{on_node(node, '')}"
    members = [p.lstrip("/") for p in absolute_paths]
    local = shlex.join(["tar", "-C", root, "-cf", "-", *members])
    return Command(f"{local} | {remote(cluster, node, f'{sudo(cluster)}tar -C / -xf - --no-same-owner')}")


NodeCommands = tuple[tuple[Node, tuple[Command, ...]], ...]


def for_each(nodes: tuple[Node, ...], make: Callable[[Node], list[Command]]) -> NodeCommands:
    return tuple((node, tuple(make(node))) for node in nodes)


def for_each_master(cluster: Cluster, make: Callable[[Node], list[Command]]) -> NodeCommands:
    return for_each(cluster.masters, make)


def render(cluster: Cluster, component: str, phase: str) -> Command:
    """Re-run one phase of one component; idempotent, so a re-run changes nothing that is still right."""
    return Command(shlex.join(["invoke", "render", "--cluster", cluster.ref, "--component", component,
                               "--phase", phase]), renders=(component, phase))


def pki_file(cluster: Cluster, name: str) -> str:
    return f"{rel_build(cluster)}/pki/{name}"


def verify_cert(cluster: Cluster, name: str, ca: pki.CaSpec = pki.CLUSTER_CA) -> Command:
    """openssl checks the chain of pki/NAME.pem against the CA that signs `ca`'s domain."""
    cert = pki_file(cluster, f"{name}.pem")
    signer = trust.signer(trust.layout(cluster), ca)
    return Command(shlex.join(["openssl", "verify", "-CAfile", pki_file(cluster, f"{signer.name}.pem"), cert]),
                   expect=r": OK$", example=f"{cert}: OK")


def subject_line(cluster: Cluster, cn: str, org: str | None) -> str:
    """`openssl x509 -subject` as OpenSSL 3 prints it for a certificate of this cluster."""
    s = cluster.spec.certificates.subject
    org_part = f"O = {org}, " if org else ""
    return f"subject=C = {s.C}, ST = {s.ST}, L = {s.L}, {org_part}OU = {s.OU}, CN = {cn}"


def inspect_cert(cluster: Cluster, name: str, expect: str, example: str) -> Command:
    return Command(
        shlex.join(["openssl", "x509", "-in", pki_file(cluster, f"{name}.pem"), "-noout", "-subject", "-enddate",
                    "-ext", "subjectAltName,extendedKeyUsage"]),
        expect=expect, example=example,
    )
