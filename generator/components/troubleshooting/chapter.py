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
from generator.steps import Chapter, Text

ID = "troubleshooting"
__all__ = ["ERRORS", "ID", "Error", "artifacts", "chapter"]
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
    *etcd.ERRORS,
    *releases.ERRORS,
)

WORDS = {
    "zh": {"symptom": "现象", "cause": "原因", "confirm": "确认", "fix": "解决", "seen": "出现在",
           "lint": "`invoke lint` 规则", "message": "报错", "index": "错误一览", "error": "错误"},
    "en": {"symptom": "Symptom", "cause": "Cause", "confirm": "Confirm", "fix": "Fix", "seen": "Seen in",
           "lint": "`invoke lint` rule", "message": "Message", "index": "Errors at a glance", "error": "Error"},
}
SEED = {"zh": "种子", "en": "seed"}


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []


def anchor(error: Error) -> str:
    return f"ts-{error.id}"


def console(commands: list[str]) -> str:
    body = "\n".join(f"$ {c}" for c in commands)
    return f"```console\n{body}\n```\n"


def entry(cluster: Cluster, number: int, error: Error, lang: str) -> str:
    w = WORDS[lang]
    lines = [
        f"### {number}. {error.title[lang]} {{ #{anchor(error)} }}\n",
        f"```text\n{error.message}\n```\n",
        f"**{w['symptom']}**: {error.symptom[lang]}\n",
        f"**{w['cause']}**: {error.cause[lang]}\n",
        f"**{w['confirm']}**:\n",
        console(error.confirm(cluster)),
        f"**{w['fix']}**: {error.fix[lang]}\n",
    ]
    notes = []
    if error.seen_in:
        notes.append(f"{w['seen']}: " + ", ".join(s.replace("seed", SEED[lang]) for s in error.seen_in))
    if error.lint_rules:
        notes.append(f"{w['lint']}: " + ", ".join(f"`{r}`" for r in error.lint_rules))
    if notes:
        lines.append("*" + " · ".join(notes) + "*\n")
    return "\n".join(lines)


def catalog_markdown(cluster: Cluster, lang: str) -> str:
    w = WORDS[lang]
    rows = "\n".join(
        f"| [{i}](#{anchor(e)}) | {e.title[lang]} | `{e.message.replace('|', '&#124;')}` |"
        for i, e in enumerate(ERRORS, 1)
    )
    table = f"| # | {w['error']} | {w['message']} |\n|---|---|---|\n{rows}\n"
    entries = "\n".join(entry(cluster, i, e, lang) for i, e in enumerate(ERRORS, 1))
    return f"## {w['index']}\n\n{table}\n{entries}"


def intro(cluster: Cluster, lang: str) -> str:
    lead = {
        "zh": (
            "下面每一条都是种子文档或版本资料里真实出现过的错误：现象、原因、用来确认的命令和解决办法。"
            "这些命令用于排查已经出问题的集群，只显示、不会被 `invoke deploy` 执行。"
            "很多错误可以在部署前发现：手工改过 `build/` 里的文件后，先运行 `invoke lint`，"
            "它逐行报告 `路径: 规则: 说明`，有发现时以状态 1 退出。"
        ),
        "en": (
            "Each entry is an error the seed guides or the version facts really met: symptom, cause, the command "
            "that confirms it, and the fix. The commands are diagnostics for a cluster already in trouble: shown, "
            "never run by `invoke deploy`. Many of these can be caught before deploying: after hand-editing files "
            "under `build/`, run `invoke lint`; it prints one `path: rule: message` line per finding and exits "
            "with status 1 when there is any."
        ),
    }
    return f"{lead[lang]}\n\n{console([lint(cluster)])}\n{catalog_markdown(cluster, lang)}"


def chapter(cluster: Cluster) -> Chapter:
    return Chapter(
        id=ID,
        number=10,
        title=Text(zh="故障排查", en="Troubleshooting"),
        intro=Text(zh=intro(cluster, "zh"), en=intro(cluster, "en")),
        steps=(),
    )


