"""What a built site depends on, as one hash: a sub-site whose stamp matches is not rendered, staged or built again.

A stamp is compared, never trusted for more: it lies inside the sub-site it describes, written after the sub-site is
complete, so a build interrupted half-way leaves no stamp and the next build redoes that sub-site."""

from __future__ import annotations

import datetime
import hashlib
from importlib.metadata import version
from pathlib import Path

from generator import stored
from generator.artifacts import build_dir
from generator.model import REPO, Cluster
from generator.run_records import last_dir
from generator.schema import Problem

STAMP = ".build-stamp"
# The packages whose output the site is; a new version of one builds every page again.
PACKAGES = ("mkdocs", "mkdocs-material", "mkdocs-static-i18n", "jieba")


def tree_hash(digest: hashlib._Hash, root: Path, contents: bool = True) -> None:
    """Feed each file under `root` into `digest`: its path and its bytes, or (contents=False) size and mtime."""
    for path in sorted(root.rglob("*")) if root.exists() else []:
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        if contents:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        else:
            st = path.stat()
            digest.update(f"{st.st_size} {st.st_mtime_ns}\0".encode())


def generator_fingerprint(site_url: str = "") -> str:
    """Everything every page depends on: the generator (code and templates), mkdocs.yml, docs/'s committed sources,
    the notebooks, the versions of MkDocs and its plugins, the site's address."""
    digest = hashlib.sha256(site_url.encode())
    for root in (REPO / "generator", REPO / "docs", REPO / "notebooks"):
        tree_hash(digest, root)
    digest.update((REPO / "mkdocs.yml").read_bytes())
    digest.update(" ".join(f"{p}={version(p)}" for p in PACKAGES).encode())
    return digest.hexdigest()


def cluster_stamp(cluster: Cluster, fingerprint: str, runs_root: Path) -> str:
    """A cluster's sub-site inputs: its file, the generator, its last run record, today's date (the overview counts
    the days left on each certificate) and what build/<name>/ holds (a deleted or hand-edited artifact renders again).
    """
    digest = hashlib.sha256(fingerprint.encode())
    digest.update(cluster.source.read_bytes())
    digest.update(datetime.datetime.now(datetime.UTC).date().isoformat().encode())
    run = last_dir(cluster.name, runs_root)
    digest.update(str(run).encode())
    if run is not None:
        tree_hash(digest, run)
    tree_hash(digest, build_dir(cluster), contents=False)
    return digest.hexdigest()


def pages_stamp(files: dict[str, str], fingerprint: str) -> str:
    """The top site's inputs: its pages (the home pages hold every cluster's summary) and the generator."""
    digest = hashlib.sha256(fingerprint.encode())
    for rel, text in sorted(files.items()):
        digest.update(f"{rel}\0{text}\0".encode())
    return digest.hexdigest()


def matches(site: Path, stamp: str) -> bool:
    """Whether the stamp in `site` is `stamp`. Anything else in a stamp file only means "build again" (a stamp only
    ever skips work); something other than a file there (a directory, a FIFO, a symlink) is refused in one line
    before anything is built: the build would have to remove it to write its own."""
    path = site / STAMP
    try:
        found = stored.read_limited(path, len(stamp), follow=False)
    except FileNotFoundError:
        return False
    except OSError as err:
        reason = str(err) if isinstance(err, stored.NotAFile) else f"cannot read it ({err.strerror or err})"
        raise stored.StoredFileError(stored.line(str(path), [Problem("", "the stamp", reason)], "remove it: "
                                     "build-docs writes its stamps as plain files")) from None
    return found == stamp.encode()
