"""Troubleshooting: every error the seeds and the version facts name, with symptom, cause, check and fix.

The chapter has no executable steps: its commands are diagnostics for a cluster that is already failing, so the
page shows them in `console` blocks (never `bash`), and `invoke deploy` runs nothing here. Its one runnable
companion is `invoke lint`, which finds in an artifact directory the mistakes a generator can see.
"""

from __future__ import annotations

from generator.artifacts import Artifact
from generator.components.troubleshooting import certificates, config, etcd, load_balancer, releases, units
from generator.components.troubleshooting.errors import Error, lint
from generator.context import RenderContext
from generator.model import Cluster
from generator.steps import Chapter
from generator.text import Text, Texts

ID = "troubleshooting"
__all__ = ["ERRORS", "ID", "Error", "artifacts", "chapter"]
TEXT = Texts.of_component(__file__)
# The page numbers its entries in this order (the table and the headings), so the order is part of the page; an
# entry a topic module adds is on the page only once it is listed here.
ERRORS: tuple[Error, ...] = (
    certificates.DNS_TRAILING_DOT,
    certificates.KEY_IS_CERTIFICATE,
    certificates.LEGACY_COMMON_NAME,
    certificates.JSON_COMMENT,
    certificates.CFSSL_PROFILE,
    units.UNIT_BACKSLASH_SPACE,
    config.LEASE_FORBIDDEN,
    config.LOCK_REMOVED,
    config.STRICT_DECODING,
    config.NO_CONFIGURATION,
    certificates.NOT_YET_VALID,
    config.INSECURE_PORT_GONE,
    units.INITIALIZERS,
    units.UNKNOWN_GATE,
    units.UNKNOWN_FLAG,
    units.WANTEDBY_TYPO,
    units.RESTART_VALUE,
    load_balancer.HAPROXY_NBPROC,
    load_balancer.KEEPALIVED_FULLWIDTH,
    certificates.UNAUTHORIZED,
    certificates.UNKNOWN_AUTHORITY,
    units.INLINE_COMMENT,
    units.PORT_IN_USE,
    *etcd.ERRORS,
    *releases.ERRORS,
)

def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []


def anchor(error: Error) -> str:
    return f"ts-{error.id}"


def console(commands: list[str]) -> str:
    body = "\n".join(f"$ {c}" for c in commands)
    return f"```console\n{body}\n```\n"


def words(lang: str) -> dict[str, str]:
    """The words each entry and the index are laid out with, in one language."""
    return {name: text[lang] for name, text in TEXT.fields("troubleshooting.page").items()}


def entry(cluster: Cluster, number: int, error: Error, lang: str) -> str:
    w = words(lang)
    lines = [
        f"### {number}. {error.title[lang]} {{ #{anchor(error)} }}\n",
        f"```text\n{error.message}\n```\n",
        f"**{w['symptom']}**: {error.symptom[lang]}\n",
        f"**{w['cause']}**: {error.cause[lang]}\n",
        f"**{w['confirm']}**:\n",
        console(error.confirm(cluster)),
        f"**{w['fix']}**: {error.fix[lang]}\n",
        *([console(error.repair(cluster))] if error.repair else []),
    ]
    notes = []
    if error.lint_rules:
        notes.append(f"{w['lint']}: " + ", ".join(f"`{r}`" for r in error.lint_rules))
    if notes:
        lines.append("*" + " · ".join(notes) + "*\n")
    return "\n".join(lines)


def catalog_markdown(cluster: Cluster, lang: str) -> str:
    w = words(lang)
    rows = "\n".join(
        f"| [{i}](#{anchor(e)}) | {e.title[lang]} | `{e.message.replace('|', '&#124;')}` |"
        for i, e in enumerate(ERRORS, 1)
    )
    table = f"| # | {w['error']} | {w['message']} |\n|---|---|---|\n{rows}\n"
    entries = "\n".join(entry(cluster, i, e, lang) for i, e in enumerate(ERRORS, 1))
    return f"## {w['index']}\n\n{table}\n{entries}"


def intro(cluster: Cluster, lang: str) -> str:
    return f"{TEXT(ID, 'lead')[lang]}\n\n{console([lint(cluster)])}\n{catalog_markdown(cluster, lang)}"


def chapter(cluster: Cluster) -> Chapter:
    return Chapter(
        **TEXT.chapter(ID),
        number=10,
        intro=Text(zh=intro(cluster, "zh"), en=intro(cluster, "en")),
        steps=(),
    )


