"""What a reader without this tool types instead of `invoke render --phase cert|kubeconfig`: cfssl and kubectl.

Derived from the artifacts the phase writes, so the two cannot drift: every cfssl CSR JSON of the component
becomes a `cfssl gencert` with the profile named after the certificate's usage (its extended key usages), every
kubeconfig the four `kubectl config` calls that make the same cluster, user and context, and every file the phase
also places in a node's tree an `install` of the workstation's copy. tests/test_by_hand.py runs them for real.
"""

from __future__ import annotations

import base64
import re
import shlex

import yaml
from cryptography import x509

from generator import pki
from generator.artifacts import Artifact, rel_build
from generator.components.ca.chapter import ID as CA_COMPONENT
from generator.model import Cluster
from generator.shell_fold import fold

PHASES = ("cert", "kubeconfig")


def profile(cert_pem: bytes) -> str:
    """The ca-config.json profile whose usages give this certificate its extended key usages."""
    eku = set(x509.load_pem_x509_certificate(cert_pem).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    return next(name for name, usages in pki.EKU.items() if set(usages) == eku)


def workstation_copy(artifacts: dict[str, Artifact], content: bytes) -> str | None:
    """The file under pki/ with exactly this content, if there is one."""
    return next((path for path, a in artifacts.items() if path.startswith("pki/") and a.content == content), None)


def issuer(artifacts: dict[str, Artifact], cert_pem: bytes) -> str:
    """The CA under pki/ that signed this certificate, as its cfssljson -bare name (pki/ca, pki/etcd-ca, ...)."""
    wanted = x509.load_pem_x509_certificate(cert_pem).issuer
    cas = [path.removesuffix(".pem") for path, a in artifacts.items()
           if a.component == CA_COMPONENT and path.startswith("pki/") and path.endswith(".pem")
           and not path.endswith("-key.pem")]
    return next(ca for ca in cas if x509.load_pem_x509_certificate(artifacts[f"{ca}.pem"].content).subject == wanted)


def cert_commands(artifacts: dict[str, Artifact], component: str) -> list[str]:
    commands = []
    # the CA chapter's; everything else here comes from cfssl below
    made = {path for path, a in artifacts.items() if a.component == CA_COMPONENT and path.startswith("pki/")}
    for path, artifact in artifacts.items():
        if artifact.component == component and artifact.phase == "cert" and path.endswith("-csr.json"):
            name = path.removesuffix("-csr.json")
            ca = issuer(artifacts, artifacts[f"{name}.pem"].content)
            gencert = ["cfssl", "gencert", f"-ca={ca}.pem", f"-ca-key={ca}-key.pem", f"-config={ca}-config.json",
                       f"-profile={profile(artifacts[f'{name}.pem'].content)}", path]
            commands.append(f"{shlex.join(gencert)} | {shlex.join(['cfssljson', '-bare', name])}")
            made |= {f"{name}.pem", f"{name}-key.pem"}
    for path, artifact in artifacts.items():
        if artifact.component == component and artifact.phase == "cert" and path.startswith("nodes/"):
            source = workstation_copy(artifacts, artifact.content)
            commands.append(shlex.join(["install", "-D", "-m", f"{artifact.mode:04o}", source, path])
                            if source in made else f"# {path}: made by `invoke render` (no cfssl request makes it)")
    return commands


def embedded(artifacts: dict[str, Artifact], data: str) -> str:
    path = workstation_copy(artifacts, base64.b64decode(data))
    if path is None:
        raise ValueError("a kubeconfig embeds a file that has no copy under pki/")
    return path


def kubeconfig_commands(artifacts: dict[str, Artifact], path: str) -> list[str]:
    config = yaml.safe_load(artifacts[path].content)
    (cluster,), (user,), (context,) = config["clusters"], config["users"], config["contexts"]
    ca = embedded(artifacts, cluster["cluster"]["certificate-authority-data"])
    cert = embedded(artifacts, user["user"]["client-certificate-data"])
    key = embedded(artifacts, user["user"]["client-key-data"])
    calls = [
        ["set-cluster", cluster["name"], f"--certificate-authority={ca}", "--embed-certs=true",
         f"--server={cluster['cluster']['server']}"],
        ["set-credentials", user["name"], f"--client-certificate={cert}", f"--client-key={key}", "--embed-certs=true"],
        ["set-context", context["name"], f"--cluster={context['context']['cluster']}",
         f"--user={context['context']['user']}"],
        ["use-context", config["current-context"]],
    ]
    return [shlex.join(["kubectl", "config", *call, f"--kubeconfig={path}"]) for call in calls]


def by_hand(cluster: Cluster, artifacts: dict[str, Artifact], component: str, phase: str) -> list[str]:
    """Commands equivalent to `invoke render --component C --phase P`: a `cd` into build/<cluster>, then the rest."""
    if phase == "cert":
        commands = cert_commands(artifacts, component)
    elif phase == "kubeconfig":
        commands = [c for path, a in artifacts.items() if a.component == component and a.phase == phase
                    and path.endswith(".kubeconfig") for c in kubeconfig_commands(artifacts, path)]
    else:
        commands = []
    return [f"cd {shlex.quote(rel_build(cluster))}", *map(fold, commands)] if commands else []


def subject(command: str) -> str:
    """What a by-hand command makes: a node's tree (`install` into nodes/NODE/…), one kubeconfig (`kubectl config
    … --kubeconfig=PATH`), or else its program's name (every `cfssl gencert` together)."""
    found = re.search(r"(?:^|\s|# )(nodes/[^/\s]+)/|--kubeconfig=(\S+)", command)
    return next(g for g in found.groups() if g) if found else command.split(maxsplit=1)[0]


def split(commands: list[str], limit: int) -> list[list[str]]:
    """The commands in order as blocks of at most `limit` shown lines where it can be done, split only between
    commands that make different things (see `subject`), so each block reads as one thing made."""
    parts: list[list[str]] = []
    for command in commands:
        if parts and subject(parts[-1][-1]) == subject(command):
            parts[-1].append(command)
        else:
            parts.append([command])
    blocks: list[list[str]] = []
    for part in parts:
        if blocks and sum(c.count("\n") + 1 for c in blocks[-1] + part) <= limit:
            blocks[-1] += part
        else:
            blocks.append(list(part))
    return blocks
