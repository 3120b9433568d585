"""pkg/generated/openapi for releases before 1.24, generated the way their own Makefile did.

build/root/Makefile.generated_files of those releases runs the pinned k8s.io/kube-openapi `openapi-gen` over
every directory (staging included, vendor/ and dot/underscore directories excluded) holding a Go file with a
`+k8s:openapi-gen=` tag, except code-generator and sample-apiserver, and compares its API-rule report with
api/api-rules/violation_exceptions.list. The same inputs give the same file; the report comparison is kept
in build.json as the evidence.
"""

from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path

from generator.kubebuild.gomod import Upstream
from generator.kubebuild.recipe import MODULE, Recipe
from generator.kubebuild.toolchain import BuildFailed, GoRunner, Unavailable

OUTPUT_PACKAGE = f"{MODULE}/pkg/generated/openapi"
EXCLUDED_STAGING = ("k8s.io/code-generator", "k8s.io/sample-apiserver")
TAGGED = re.compile(r"^// *\+k8s:", re.MULTILINE)
KNOWN_VIOLATIONS = "api/api-rules/violation_exceptions.list"


def writable_copy(source: Path, target: Path) -> None:
    """The module cache is read-only; the generated file needs a writable copy of the release's source."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR)


def tagged_packages(root: Path, import_path: str) -> list[str]:
    packages = set()
    for path in root.rglob("*.go"):
        rel = path.parent.relative_to(root)
        if rel.parts and (rel.parts[0] == "vendor" or rel.parts[0][0] in "._"):
            continue
        text = path.read_text(errors="replace")
        if "+k8s:openapi-gen=" in text and TAGGED.search(text):
            packages.add(import_path if not rel.parts else f"{import_path}/{rel.as_posix()}")
    return sorted(packages)


def staging_sources(go: GoRunner, recipe: Recipe, upstream: Upstream) -> tuple[dict[str, Path], list[str]]:
    """Each staging module's files at v0.Y.Z; modules the proxy does not serve (or the checksum database does not
    know, as k8s.io/node-api v0.16.15) are listed and left out, never fetched unverified."""
    found, missing = {}, []
    for name in upstream.staging:
        if name in EXCLUDED_STAGING:
            continue
        try:
            info = go.download(f"{name}@{recipe.staging_version}")
        except Unavailable:
            missing.append(name)
            continue
        found[name] = Path(info["Dir"])
    return found, missing


def generate(go: GoRunner, src: Path, recipe: Recipe, upstream: Upstream) -> dict[str, object]:
    """Write zz_generated.openapi.go into src/kubernetes; return what build.json records about it."""
    inputs = tagged_packages(src / "kubernetes", MODULE)
    staging, missing = staging_sources(go, recipe, upstream)
    for name, root in staging.items():
        inputs += tagged_packages(root, name)
    out = src / "openapi-gen"
    if out.exists():
        shutil.rmtree(out)
    report = out / "violations.report"
    out.mkdir()
    # Old gengo predates go/types aliases (on by default since Go 1.23): without this it mis-types aliased
    # types such as meta/v1beta1.Table ("Making unsupported type entry").
    go.run(["run", "k8s.io/kube-openapi/cmd/openapi-gen", "--logtostderr", "-i", ",".join(inputs),
            "-p", OUTPUT_PACKAGE, "-O", "zz_generated.openapi",
            "-h", str(src / "kubernetes/hack/boilerplate/boilerplate.generatego.txt"),
            "-r", str(report), "-o", str(out)], what="openapi-gen", env={"GODEBUG": "gotypesalias=0"})
    generated = out / OUTPUT_PACKAGE / "zz_generated.openapi.go"
    if not generated.exists():
        raise BuildFailed(f"openapi-gen wrote no {generated.relative_to(out)}")
    shutil.copy2(generated, src / "kubernetes" / "pkg/generated/openapi" / generated.name)
    known = set((src / "kubernetes" / KNOWN_VIOLATIONS).read_text().splitlines())
    made = set(report.read_text().splitlines())
    return {
        "input_packages": len(inputs),
        "staging_modules_not_served": missing,
        # What the release's Makefile would have failed on; modules not served explain their own lines.
        "report_matches_upstream_known_violations": made == known,
        "report_only_upstream": sorted(known - made)[:20],
        "report_only_here": sorted(made - known)[:20],
    }
