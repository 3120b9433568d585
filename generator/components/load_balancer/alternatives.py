"""The load-balancer chapter of clusters that run no haproxy/keepalived: one master, or an external LB."""

from __future__ import annotations

from generator.components.load_balancer.files import backend_health
from generator.components.load_balancer.service import ID, SHUTDOWN_DELAY_SECONDS
from generator.model import Cluster
from generator.steps import Chapter, Step
from generator.text import NO_TEXT, Texts

TEXT = Texts.of_component(__file__)


def single_master_chapter(cluster: Cluster) -> Chapter:
    """One master and no VIP: nothing to balance; clients use that master's kube-apiserver directly."""
    explain = Step(
        **TEXT.step(f"{ID}.none", cluster=cluster),
    )
    return Chapter(
        id=ID,
        number=3,
        title=TEXT(ID, "title-none"),
        intro=TEXT(ID, "intro-none"),
        steps=(explain,),
    )


def external_chapter(cluster: Cluster) -> Chapter:
    api = cluster.spec.api_server
    address = api.external_address or ""
    backends = ", ".join(f"`{m.ip}:{api.secure_port}`" for m in cluster.masters)
    check = backend_health(cluster)
    explain = Step(
        **TEXT.step(f"{ID}.external", cluster=cluster, api=api, backends=backends, check=check, address=address,
                    readyz=(TEXT(f"{ID}.external", "readyz", delay=SHUTDOWN_DELAY_SECONDS) if check == "/readyz"
                            else NO_TEXT)),
    )
    return Chapter(
        id=ID,
        number=3,
        title=TEXT(ID, "title-external"),
        intro=TEXT(ID, "intro-external", cluster=cluster),
        steps=(explain,),
    )
