"""The README's "Adding a component", done: a made-up daemon joins a copy of the tree as its own folder, one line in
the chapters' catalog and one in the daemons' list; every list of daemons then has it, and no other file changed."""

from __future__ import annotations

import difflib
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import REPO

FOLDER = "generator/components/dummy"
# What an engineer writes: the component's own files.
FILES = {
    f"{FOLDER}/__init__.py": '"""dummyd, a made-up daemon on every master: what adding a component takes."""\n',
    f"{FOLDER}/files.py": '''
        """dummyd's unit on every master."""

        from __future__ import annotations

        from generator import systemd
        from generator.artifacts import Artifact, on_node
        from generator.context import RenderContext
        from generator.model import Cluster

        ID = "dummy"
        PORT = 7777


        def unit_path(cluster: Cluster) -> str:
            return f"{cluster.spec.paths.systemd_dir}/dummyd.service"


        def artifacts(ctx: RenderContext) -> list[Artifact]:
            unit = systemd.unit("dummyd", "https://example.com/dummyd", "/usr/bin/dummyd", [f"--port={PORT}"])
            return [Artifact(on_node(node, unit_path(ctx.cluster)), unit, ID, "unit") for node in ctx.cluster.masters]
    ''',
    f"{FOLDER}/service.py": '''
        """dummyd as a service: on every master, after kube-apiserver."""

        from __future__ import annotations

        from generator.components.dummy.files import ID, PORT, unit_path
        from generator.components.kube_apiserver.files import ID as APISERVER_UNIT
        from generator.model import Cluster, Node
        from generator.service import MASTER, Port, Service


        def files(cluster: Cluster, node: Node) -> list[str]:
            return [unit_path(cluster)]


        def ports(cluster: Cluster) -> list[Port]:
            return [Port(PORT)]


        SERVICE = Service(unit="dummyd", component=ID, role=MASTER, files=files, ports=ports, after=(APISERVER_UNIT,))
    ''',
    f"{FOLDER}/chapter.py": '''
        """The dummy chapter: push dummyd's unit to every master and start it."""

        from __future__ import annotations

        from generator.components import daemon
        from generator.components.dummy.files import ID, artifacts, unit_path
        from generator.components.dummy.service import SERVICE
        from generator.model import Cluster
        from generator.steps import Chapter, Step, for_each_master, push
        from generator.text import Texts

        __all__ = ["ID", "artifacts", "chapter"]
        TEXT = Texts.of_component(__file__)


        def chapter(cluster: Cluster) -> Chapter:
            distribute = Step(**TEXT.step(f"{ID}.distribute"),
                              per_node=for_each_master(cluster, lambda n: [push(cluster, n, [unit_path(cluster)])]))
            start = daemon.start_step(cluster, SERVICE, "/usr/bin/dummyd", TEXT(f"{ID}.start", "needs"))
            return Chapter(**TEXT.chapter(ID, masters=len(cluster.masters)), number=15, steps=(distribute, start))
    ''',
    f"{FOLDER}/text.yaml": '''
        dummy:
          title:
            zh: 示例守护进程
            en: A made-up daemon
          intro:
            zh: dummyd 在全部 {masters} 台 master 上运行。
            en: dummyd runs on all {masters} masters.

        dummy.distribute:
          title:
            zh: 分发 unit
            en: Distribute the unit
          explain:
            zh: 把 dummyd 的 unit 推送到每台 master。
            en: Push dummyd's unit to every master.

        dummy.start:
          needs:
            zh: ，kube-apiserver 已就绪
            en: " and kube-apiserver ready"
    ''',
}
# ... and the one line each catalog takes (each an import and an entry).
CATALOG_LINES = {
    "generator/catalog.py": [
        ("from generator.components.ca_rotation import chapter as ca_rotation\n",
         "from generator.components.ca_rotation import chapter as ca_rotation\n"
         "from generator.components.dummy import chapter as dummy\n"),
        ("    verification, troubleshooting,\n", "    verification, troubleshooting, dummy,\n"),
    ],
    "generator/daemons.py": [
        ("from generator.components.etcd.service import SERVICE as ETCD\n",
         "from generator.components.dummy.service import SERVICE as DUMMY\n"
         "from generator.components.etcd.service import SERVICE as ETCD\n"),
        ("    KUBE_SCHEDULER,\n)", "    KUBE_SCHEDULER,\n    DUMMY,\n)"),
    ],
}
# What every list of daemons says about the copy, computed there.
PROBE = '''
import json
from generator import catalog, daemons, ledger
from generator.model import load
from generator.render import make_artifacts
from generator.site.overview import overview_page
from generator.site.topology import node_lines
from generator.components.verification.master_loss import master_services

cluster, grow = load("example"), load("example-grow")
steps = {s.id: s for ch in catalog.chapters(cluster) for s in ch.steps}
grown = {s.id: s for ch in catalog.chapters(grow) for s in ch.steps}
node = cluster.masters[0]
print(json.dumps({
    "services on a master": [s.unit for s in daemons.on_node(cluster, node)],
    "verification": [c.run for c in steps["verification.services"].per_node[0][1]],
    "master loss": master_services(cluster),
    "renewal gate": steps["renewal.restart"].per_node[0][1][0].run,
    "membership": grown["membership.rolling"].per_node[0][1][0].run,
    "overview": overview_page(cluster, catalog.chapters(cluster), "en", cluster.source.parent),
    "topology": node_lines(cluster, node),
    "chapter": [s.id for ch in catalog.chapters(cluster) if ch.id == "dummy" for s in ch.steps],
    "artifacts": sorted(a.path for a in make_artifacts(cluster)[0] if a.component == "dummy"),
}))
'''


def copy_tree(target: Path) -> None:
    for part in ("generator", "clusters"):
        shutil.copytree(REPO / part, target / part, ignore=shutil.ignore_patterns("__pycache__"))


def changed_files(before: Path, after: Path) -> list[str]:
    """Files added, removed or different between two trees, relative to them."""
    found = []

    def walk(cmp: filecmp.dircmp, prefix: str) -> None:
        found.extend(f"{prefix}{name}" for name in cmp.left_only + cmp.right_only + cmp.diff_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(before, after, ignore=["__pycache__"]), "")
    return sorted(found)


def test_a_new_daemon_is_its_folder_and_one_line_in_each_catalog(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    copy_tree(before)
    copy_tree(after)
    for path, text in FILES.items():
        (after / path).parent.mkdir(parents=True, exist_ok=True)
        (after / path).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    for path, edits in CATALOG_LINES.items():
        text = (after / path).read_text(encoding="utf-8")
        for old, new in edits:
            assert text.count(old) == 1, (path, old)
            text = text.replace(old, new)
        (after / path).write_text(text, encoding="utf-8")

    touched = changed_files(before, after)
    assert touched == sorted(["generator/components/dummy", *CATALOG_LINES]), touched
    for path in CATALOG_LINES:  # its import, and its place in the list
        old, new = ((tree / path).read_text().splitlines() for tree in (before, after))
        assert len([line for line in difflib.ndiff(old, new) if line.startswith("+ ")]) == 2, path

    env = dict(os.environ, PYTHONPATH=str(after), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=after, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["services on a master"][-1] == "dummyd"
    # A long command is folded with continuations where it is made (generator/shell_fold.py): read as one line.
    assert any("systemctl is-active haproxy keepalived etcd kube-apiserver kube-controller-manager kube-scheduler "
               "dummyd'" in re.sub(r" \\\n\s*", " ", run) for run in seen["verification"])
    assert seen["master loss"][-1] == "dummyd"
    assert "kube-scheduler dummyd'" in seen["renewal gate"]  # the gate waits for it to be active too
    assert "restarted dummyd" in seen["membership"] or "restart dummyd" in seen["membership"]
    assert "| 7777 | dummyd |" in seen["overview"]
    assert "dummyd :7777" in seen["topology"]
    assert seen["chapter"] == ["dummy.distribute", "dummy.start"]
    assert seen["artifacts"] == [f"nodes/{n}/etc/systemd/system/dummyd.service"
                                 for n in ("k8s-master-01", "k8s-master-02", "k8s-master-03")]
