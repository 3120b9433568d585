"""Where each page lives on the built site, and the relative links between the top site and the cluster sites.

site/ is the top site (home pages, version facts, notebooks); site/clusters/<name>/ is one MkDocs build per cluster.
In every build the default language sits at the root and the other under <lang>/ (mkdocs-static-i18n's layout).
Links between builds are relative: the site may be served under a sub-path, or opened from disk."""

from __future__ import annotations

from generator.site.words import LANGS

DEFAULT = LANGS[0]
CLUSTERS = "clusters"
# In a cluster's build, `extra.<this>` names the cluster (generator/site/build.py); the top build has none.
CLUSTER_KEY = "runbook_cluster"
START = "start"  # the way in: a page of that name in the top build and in each cluster's
NOTEBOOKS = "notebooks"  # in the top build: each notebook as it is and as a page (generator/site/notebook_pages.py)


def lang_dir(lang: str) -> str:
    """A language's root inside one build, relative to that build's root."""
    return "" if lang == DEFAULT else f"{lang}/"


def cluster_path(name: str, lang: str) -> str:
    """A cluster's overview in a language, relative to the site's root."""
    return f"{CLUSTERS}/{name}/{lang_dir(lang)}"


def top_to_cluster(name: str, lang: str) -> str:
    """From a top page at a language's root to the same language's overview of a cluster."""
    return "../" * (lang != DEFAULT) + cluster_path(name, lang)


def cluster_to_top(lang: str, depth: int) -> str:
    """From a cluster page `depth` directories below its language's root, up to the top site's root."""
    return "../" * (depth + (lang != DEFAULT) + 2)


# The navigation's link back to the top site, as configured: generator/site/hooks.py puts the page-relative path in.
# MkDocs resolves a relative nav link against the page's URL by dropping the leading `../` and matching what is left
# with the page's own first segment, so `../../en/` from a page under en/ came out as the top site's zh root.
TOP_LINK = "#runbook-top-site"


def page_to_top(url: str) -> str:
    """From a cluster page (its URL within the cluster's build, e.g. `en/02-ca/`) to the top site's same language."""
    parts = [p for p in url.split("/") if p]
    lang = parts[0] if parts and parts[0] in LANGS[1:] else DEFAULT
    return "../" * (len(parts) + 2) + lang_dir(lang)
