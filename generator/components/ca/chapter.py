"""The CAs of the cluster's trust domains: each made once, reused by every later render, never re-made."""

from __future__ import annotations

import shlex

from generator import pki, trust
from generator.artifacts import Artifact, on_node
from generator.context import RenderContext
from generator.model import Cluster
from generator.steps import Chapter, Command, Show, Step, pki_file, render
from generator.text import Text, Texts

ID = "ca"
TEXT = Texts.of_component(__file__)


def artifacts(ctx: RenderContext) -> list[Artifact]:
    """Each CA's pair, CSR and cfssl config in pki/, and its certificate on every node that checks what it signs
    (during a CA rotation both CAs' certificates, generator/rotation.py)."""
    cluster = ctx.cluster
    files: list[Artifact] = []
    for authority in ctx.authorities:
        ca = authority.spec
        files += [
            Artifact(f"pki/{ca.name}.pem", ctx.trusted(ca), ID, "ca"),
            Artifact(f"pki/{ca.name}-key.pem", authority.key_pem, ID, "ca", secret=True),
            Artifact(f"pki/{ca.name}-csr.json", pki.ca_csr_json(cluster, ca).encode(), ID, "ca"),
            Artifact(f"pki/{ca.name}-config.json", pki.ca_config_json(cluster, ca).encode(), ID, "ca"),
        ]
        node_path = f"{cluster.spec.paths.pki_dir}/{ca.name}.pem"
        files += [Artifact(on_node(node, node_path), ctx.trusted(ca), ID, "ca")
                  for node in trust.holders(cluster, ctx.layout, ca)]
    return files


def chapter(cluster: Cluster) -> Chapter:
    layout = trust.layout(cluster)
    cas = trust.authorities(layout)
    keys = [pki_file(cluster, f"{ca.name}-key.pem") for ca in cas]
    checks = [Command(shlex.join(["openssl", "x509", "-in", pki_file(cluster, f"{ca.name}.pem"), "-noout", "-subject",
                                  "-enddate", "-ext", "basicConstraints,keyUsage"]), expect=r"CA:TRUE",
                      example="X509v3 Basic Constraints: critical\n    CA:TRUE") for ca in cas]
    create = Step(
        **TEXT.step("ca.create"),
        explain=explain(cluster, layout),
        warnings=warnings(cluster, layout),
        shows=tuple(Show(f"{ca.name}-config.json", "json", (("", f"pki/{ca.name}-config.json"),)) for ca in cas),
        local=(
            render(cluster, ID, "ca"),
            *checks,
            Command(f"stat -c %a:%n {shlex.join(keys)}", expect=rf"\A(?:600:\S+\n?){{{len(keys)}}}\Z",
                    example="\n".join(f"600:{key}" for key in keys)),
        ),
    )
    return Chapter(
        **TEXT.chapter(ID),
        number=2,
        intro=TEXT(ID, f"intro-{layout}"),
        steps=(create,),
    )


def explain(cluster: Cluster, layout: str) -> Text:
    """What each trust domain protects, or why this cluster has only one; then how the CAs are made."""
    made = TEXT("ca.create", "made", days=cluster.spec.certificates.ca_days)
    return TEXT("ca.create", f"explain-{layout}", made=made)


def warnings(cluster: Cluster, layout: str) -> tuple[Text, ...]:
    key = pki_file(cluster, "ca-key.pem")
    if layout == trust.SEPARATE:
        etcd_key, proxy_key = (f"`{pki_file(cluster, f'{ca.name}-key.pem')}`" for ca in trust.DOMAINS[1:])
        return (TEXT("ca.create", "warning-separate", key=key, etcd_key=etcd_key, proxy_key=proxy_key),)
    why = TEXT("ca.create", "why-chosen" if cluster.spec.certificates.layout == trust.SINGLE else "why-kept")
    return (
        TEXT("ca.create", "warning-root", key=key),
        TEXT("ca.create", "warning-shared", why=why),
    )
