"""The admin chapter: the certificate, the kubeconfig, and kubectl reading it back."""

from __future__ import annotations

import shlex

from generator.components.admin.files import ID, KUBECONFIG, artifacts
from generator.components.daemon import kubeconfig_check_step
from generator.model import Cluster
from generator.steps import Chapter, Command, Step, inspect_cert, pki_file, render, subject_line, verify_cert
from generator.text import Texts

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists
TEXT = Texts.of_component(__file__)


def chapter(cluster: Cluster) -> Chapter:
    issue = Step(
        **TEXT.step("admin.cert"),
        local=(
            render(cluster, ID, "cert"),
            verify_cert(cluster, "admin"),
            inspect_cert(cluster, "admin", r"O ?= ?system:masters", subject_line(cluster, "admin", "system:masters")),
        ),
    )
    config = Step(
        **TEXT.step("admin.kubeconfig", cluster=cluster),
        local=(
            render(cluster, ID, "kubeconfig"),
            Command(f"stat -c %a:%n {shlex.quote(pki_file(cluster, 'admin.kubeconfig'))}", expect=r"^600:",
                    example=f"600:{pki_file(cluster, 'admin.kubeconfig')}"),
        ),
    )
    check = kubeconfig_check_step(cluster, ID, "admin", [(None, f"build/{cluster.name}/{KUBECONFIG}",
                                                          cluster.api_endpoint)])
    return Chapter(
        **TEXT.chapter("admin"),
        number=4,
        steps=(issue, config, check),
    )
