"""The way in: a "start here" page on the top site and in each cluster's. What the workstation needs and the one
command that checks it, the three ways to run the runbook and when to pick each, the release binaries on an
intranet, and a map of every chapter, day 2 included, saying when each applies.

The prose is start.yaml beside this module (generator/text.py); what a page says of a cluster (its commands, its
tarballs, its chapters) comes from the cluster file, the catalog and the notebooks' chapter list. The top page links
each chapter to a cluster whose runbook has it; a cluster's page links its own chapters, and for a day-2 chapter
its file does not plan, the top page's map (a cluster's build is not rebuilt when another cluster file changes, so
it names no other cluster).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from generator import catalog, day2, workstation
from generator.components.prerequisites.facts import etcd_url, server_url
from generator.components.renewal.chapter import ID as RENEWAL
from generator.model import Cluster
from generator.site.chapter import notebook_command, page_title
from generator.site.layout import NOTEBOOKS, START, cluster_to_top, lang_dir, top_to_cluster
from generator.site.markdown import fence
from generator.site.notebook_pages import NotebookChapter
from generator.site.words import WORDS
from generator.steps import Chapter
from generator.text import Texts

TEXT = Texts.of_module(__file__)
MAP = "chapter-map"  # the map's anchor on the top page
DAY2 = {component.ID for component in catalog.DAY2}  # in a runbook only where its cluster file plans it
PLACEHOLDER = "NAME"  # where the top page's commands need a cluster's name
WAYS = ("way-invoke", "way-notebook", "way-by-hand")
OFFLINE = """prerequisites:
  server_tarball: /srv/releases/kubernetes-server-linux-amd64.tar.gz
  etcd_tarball: /srv/releases/etcd-v3.5.15-linux-amd64.tar.gz"""


@dataclass(frozen=True)
class MapRow:
    chapter: NotebookChapter
    link: str  # "" where no runbook of the site has the chapter
    label: str  # the link's text


def day2_chapter(cluster: Cluster) -> str:
    """The day-2 chapter a cluster's runbook has: the change its file plans, or else certificate renewal."""
    return day2.planned(cluster) or RENEWAL


def top_rows(clusters: list[Cluster], chapters: list[NotebookChapter], lang: str) -> list[MapRow]:
    rows = []
    # a chapter every runbook has links to the first cluster file that plans no change
    plain = [c for c in clusters if day2.planned(c) is None] + clusters
    for chapter in chapters:
        having = next((c for c in plain if chapter.id not in DAY2 or day2_chapter(c) == chapter.id), None)
        # the page is one directory below its language's root
        rows.append(MapRow(chapter, f"../{top_to_cluster(having.name, lang)}{chapter.page}/", having.name)
                    if having else MapRow(chapter, "", ""))
    return rows


def cluster_rows(own: list[Chapter], chapters: list[NotebookChapter], top_map: str, lang: str) -> list[MapRow]:
    """This cluster's chapters link to its pages; the others to the top page's map, which names a cluster."""
    pages = {c.id: c.page for c in own}
    return [MapRow(c, f"../{pages[c.id]}/", c.title[lang]) if c.id in pages
            else MapRow(c, top_map, TEXT("map", "not_planned")[lang]) for c in chapters]


def table(columns: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
                      *("| " + " | ".join(row) + " |" for row in rows)]) + "\n"


def workstation_section(ref: str, lang: str) -> str:
    programs = ", ".join(name for names in workstation.PACKAGES.values() for name in names)
    needs = [t.format(programs=programs)[lang] for t in TEXT.entry("workstation")["needs"]]
    # the install command as a block of the list item that names the programs
    needs[1] += "\n\n" + fence(workstation.install_command(), "console", 4)
    check = fence(f"invoke check-workstation --cluster {ref}", "console")
    return (f"## {TEXT('workstation', 'heading')[lang]} {{ #workstation }}\n\n{TEXT('workstation', 'intro')[lang]}\n\n"
            + "\n".join(f"- {need}" for need in needs) + f"\n\n{TEXT('workstation', 'check')[lang]}\n\n{check}")


def ways_section(ref: str, notebook: str, notebook_page: str, lang: str) -> str:
    columns = [TEXT("ways", key)[lang] for key in ("way", "how", "pick")]
    rows = [[TEXT(way, "name")[lang], TEXT(way, "how", ref=ref)[lang], TEXT(way, "pick")[lang]] for way in WAYS]
    return (f"## {TEXT('ways', 'heading')[lang]} {{ #ways }}\n\n{TEXT('ways', 'intro')[lang]}\n\n"
            f"{table(columns, rows)}\n{TEXT('ways', 'notebook_line', link=notebook_page)[lang]}\n\n"
            + fence(notebook, "console"))


def intranet_section(cluster: Cluster | None, lang: str) -> str:
    parts = [f"## {TEXT('intranet', 'heading')[lang]} {{ #intranet }}\n", TEXT("intranet", "intro")[lang],
             fence(OFFLINE, "yaml"), TEXT("intranet", "then")[lang]]
    if cluster is not None:
        given = cluster.spec.prerequisites
        parts += [TEXT("intranet", "release")[lang],
                  fence(f"{server_url(cluster.release)}\n{etcd_url(cluster.spec.components.etcd.version)}", "text")]
        if given.server_tarball or given.etcd_tarball:
            tarballs = "\n".join(t for t in (given.server_tarball, given.etcd_tarball) if t)
            parts += [TEXT("intranet", "given")[lang], fence(tarballs, "text")]
        else:
            parts.append(TEXT("intranet", "downloads")[lang])
    return "\n".join(f"{part.rstrip()}\n" for part in parts)


def map_section(rows: list[MapRow], lang: str, top_map: str = "") -> str:
    links = (TEXT("map", "cluster", link=top_map) if top_map else TEXT("map", "top"))[lang]
    intro = f"{TEXT('map', 'intro')[lang]}\n\n{links}"
    columns = [*TEXT("map", "columns")[lang].split(" | "), TEXT("map", "page" if top_map else "runbook")[lang]]
    cells = [[str(r.chapter.number), r.chapter.title[lang], TEXT(r.chapter.id, "when")[lang],
              f"[{r.label}]({r.link})" if r.link else "—"] for r in rows]
    return f"## {TEXT('map', 'heading')[lang]} {{ #{MAP} }}\n\n{intro}\n\n{table(columns, cells)}"


def search_section(text: str, lang: str) -> str:
    return f"## {TEXT('search', 'heading')[lang]} {{ #search }}\n\n{text}\n"


def top_start_page(clusters: list[Cluster], chapters: list[NotebookChapter], lang: str) -> str:
    w = WORDS[lang]
    first = chapters[0]
    notebook = (f"mkdir -p runs/{PLACEHOLDER} && papermill notebooks/{first.id}.ipynb "
                f"runs/{PLACEHOLDER}/{first.page}.dry-run.ipynb -p cluster {PLACEHOLDER} -p dry_run True")
    scope = f"{w['search_scope']} [{w['search_scope_link']}](../#clusters)"
    return "\n".join([
        f"# {w['start']}\n", TEXT("top", "intro", ref=PLACEHOLDER, start=w["start"])[lang] + "\n",
        workstation_section(PLACEHOLDER, lang),
        ways_section(PLACEHOLDER, notebook, f"../{NOTEBOOKS}/{first.id}/", lang),
        intranet_section(None, lang), map_section(top_rows(clusters, chapters, lang), lang),
        search_section(scope, lang)])


def cluster_start_page(cluster: Cluster, own: list[Chapter], chapters: list[NotebookChapter], lang: str) -> str:
    ref = shlex.quote(cluster.ref)
    top = cluster_to_top(lang, 1) + lang_dir(lang)  # the same language's root of the top site
    top_map = f"{top}{START}/#{MAP}"
    return "\n".join([
        f"# {page_title(WORDS[lang]['start'], cluster, lang)}\n",
        TEXT("cluster", "intro", cluster=cluster.name, ref=ref)[lang] + "\n",
        workstation_section(ref, lang),
        ways_section(ref, notebook_command(own[0], cluster), f"{top}{NOTEBOOKS}/{own[0].id}/", lang),
        intranet_section(cluster, lang), map_section(cluster_rows(own, chapters, top_map, lang), lang, top_map),
        search_section(TEXT("search", "cluster", home=top)[lang], lang)])
