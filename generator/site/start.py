"""The way in: a "start here" page on the top site and in each cluster's. What the workstation needs and the one
command that checks it, the three ways to run the runbook and when to pick each, the release binaries on an
intranet, and a map of every chapter, day 2 included, saying when each applies.

The prose is a template per language (generator/site/text/start.<lang>.md.j2); what it says of a cluster (its
commands, its tarballs, its chapters) comes from the cluster file, the catalog and the notebooks' chapter list.
The top page links each chapter to a cluster whose runbook has it; a cluster's page to its own chapters, and for a
day-2 chapter its file does not plan, to the top page's map (a cluster's build is not rebuilt when another cluster
file changes, so it names no other cluster).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import jinja2

from generator import day2, workstation
from generator.components.prerequisites.facts import etcd_url, server_url
from generator.components.renewal.chapter import ID as RENEWAL
from generator.model import Cluster
from generator.site.chapter import notebook_command, page_title
from generator.site.layout import NOTEBOOKS, START, cluster_to_top, lang_dir, top_to_cluster
from generator.site.markdown import fence
from generator.site.notebook_pages import NotebookChapter
from generator.site.words import WORDS
from generator.steps import Chapter

TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("text")),
                               undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
MAP = "chapter-map"  # the map's anchor on the top page
DAY2_FROM = 11  # the first day-2 chapter's number: renewal (generator/catalog.py DAY2)
PLACEHOLDER = "NAME"  # where the top page's commands need a cluster's name


@dataclass(frozen=True)
class MapRow:
    chapter: NotebookChapter
    link: str  # "" where no runbook of the site has the chapter
    where: str  # the cluster linked to, or "" for a cluster's own chapter


def day2_chapter(cluster: Cluster) -> str:
    """The day-2 chapter a cluster's runbook has: the change its file plans, or else certificate renewal."""
    return day2.planned(cluster) or RENEWAL


def top_rows(clusters: list[Cluster], chapters: list[NotebookChapter], lang: str) -> list[MapRow]:
    rows = []
    # a chapter every runbook has links to the first cluster file that plans no change
    plain = [c for c in clusters if day2.planned(c) is None] + clusters
    for chapter in chapters:
        day2_only = chapter.number >= DAY2_FROM
        having = next((c for c in plain if not day2_only or day2_chapter(c) == chapter.id), None)
        # the page is one directory below its language's root
        link = f"../{top_to_cluster(having.name, lang)}{chapter.page}/" if having else ""
        rows.append(MapRow(chapter, link, having.name if having else ""))
    return rows


def cluster_rows(own: list[Chapter], chapters: list[NotebookChapter], top_map: str) -> list[MapRow]:
    """This cluster's chapters link to its pages; the others to the top page's map, which names a cluster."""
    pages = {c.id: c.page for c in own}
    return [MapRow(c, f"../{pages[c.id]}/", "") if c.id in pages else MapRow(c, top_map, "*") for c in chapters]


def render(lang: str, **values: object) -> str:
    return TEMPLATES.get_template(f"start.{lang}.md.j2").render(
        w=WORDS[lang], fence=fence, packages=workstation.PACKAGES, install=workstation.install_command(),
        map_anchor=MAP, **values)


def top_start_page(clusters: list[Cluster], chapters: list[NotebookChapter], lang: str) -> str:
    example = clusters[0].name if clusters else PLACEHOLDER
    return render(lang, cluster=None, title=WORDS[lang]["start"], ref=PLACEHOLDER, example=example,
                  notebook=f"mkdir -p runs/{PLACEHOLDER} && papermill notebooks/{chapters[0].id}.ipynb "
                           f"runs/{PLACEHOLDER}/{chapters[0].page}.dry-run.ipynb -p cluster {PLACEHOLDER} "
                           "-p dry_run True",
                  notebooks=f"../{NOTEBOOKS}/{chapters[0].id}/", server_tarball="", etcd_tarball="",
                  server_url="", etcd_url="", rows=top_rows(clusters, chapters, lang), home="../", top_map="")


def cluster_start_page(cluster: Cluster, own: list[Chapter], chapters: list[NotebookChapter], lang: str) -> str:
    given = cluster.spec.prerequisites
    top = cluster_to_top(lang, 1) + lang_dir(lang)  # the same language's root of the top site
    top_map = f"{top}{START}/#{MAP}"
    return render(lang, cluster=cluster.name, title=page_title(WORDS[lang]["start"], cluster, lang),
                  ref=shlex.quote(cluster.ref), example=cluster.name,
                  notebook=notebook_command(own[0], cluster), notebooks=f"{top}{NOTEBOOKS}/{own[0].id}/",
                  server_tarball=given.server_tarball, etcd_tarball=given.etcd_tarball,
                  server_url=server_url(cluster.release), etcd_url=etcd_url(cluster.spec.components.etcd.version),
                  rows=cluster_rows(own, chapters, top_map), home=top, top_map=top_map)
