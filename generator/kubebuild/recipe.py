"""What building one Kubernetes release from its Go module takes, as data (sources in the comments).

Everything here was found by building the releases on Go 1.26 (`invoke kube-binaries --release X`); each
entry says what broke without it.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.versions import Release, Timeline

MODULE = "k8s.io/kubernetes"
# k8s.io/kubernetes has a go.mod from 1.15 on; older releases vendored with Godeps, so the module proxy serves
# their source without any dependency versions and nothing can be built from it.
FIRST_MODULE_RELEASE = (1, 15)
COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
DAEMONS = COMMANDS[:3]

# pkg/generated/openapi/zz_generated.openapi.go is in the module from 1.24 on. Before that `make` generated it
# with the release's own openapi-gen (build/root/Makefile.generated_files), and without it kube-apiserver does
# not compile: `undefined: generatedopenapi.GetOpenAPIDefinitions`.
OPENAPI_COMMITTED = Timeline(((1, 12), False), ((1, 24), True))


@dataclass(frozen=True)
class Floor:
    """A dependency that must be at least `version`: older ones build, then fail on today's Go."""

    module: str
    version: str
    why: str


FLOORS = (
    Floor("github.com/modern-go/reflect2", "v1.0.2",
          "v1.0.1 reaches into the runtime through go:linkname symbols Go 1.18 changed: json-iterator, and with "
          "it every API request, panics at run time (modern-go/reflect2#12)"),
)



@dataclass(frozen=True)
class Relocation:
    """A dependency whose import host is gone; the same commits are served from its new home."""

    module: str
    moved_to: str
    why: str


RELOCATIONS = (
    Relocation("vbom.ml/util", "github.com/fvbommel/util",
               "the vbom.ml vanity host is gone and the proxy refuses it (403); releases before 1.19 import it "
               "(kubectl's sortorder), the same repository lives on at github.com/fvbommel/util"),
)

# Version variables `make` stamps with -X (hack/lib/version.sh of each release); without them a binary says
# v0.0.0-master and the runbook's `--version` checks fail. Up to 1.19 the daemons read k8s.io/kubernetes/pkg/version
# and kubectl k8s.io/kubectl/pkg/version; later ones component-base. A package a release lacks is ignored by -X.
VERSION_PACKAGES = (
    "k8s.io/component-base/version", "k8s.io/client-go/pkg/version", "k8s.io/kubernetes/pkg/version",
    "k8s.io/kubectl/pkg/version",
)


@dataclass(frozen=True)
class Recipe:
    release: Release
    generate_openapi: bool

    @property
    def tag(self) -> str:
        return self.release.tag

    @property
    def staging_version(self) -> str:
        """The staging modules (k8s.io/api, …) are tagged v0.Y.Z for release v1.Y.Z."""
        return f"v0.{self.release.minor}.{self.release.patch}"

    def ldflags(self, build_date: str) -> str:
        values = {
            "gitVersion": self.tag,
            "gitMajor": str(self.release.major),
            "gitMinor": str(self.release.minor),
            "gitTreeState": "clean",
            "buildDate": build_date,
        }
        stamps = [f"-X {package}.{name}={value}" for package in VERSION_PACKAGES for name, value in values.items()]
        return " ".join(["-s", "-w", *stamps])


def recipe(release: Release) -> Recipe | str:
    """The recipe, or a sentence saying why this release cannot be built from Go modules."""
    if release.minor_version < FIRST_MODULE_RELEASE:
        first = ".".join(map(str, FIRST_MODULE_RELEASE))
        return (f"Kubernetes {release} predates k8s.io/kubernetes's go.mod (from {first}): it cannot be built from "
                "the Go module proxy; give official release binaries with --kube-bin-dir")
    return Recipe(release=release, generate_openapi=not OPENAPI_COMMITTED.at(release))
