"""Kubernetes server binaries built from the k8s.io/kubernetes Go module (no registry ships them).

`ensure(release)` returns the directory holding kube-apiserver, kube-controller-manager, kube-scheduler and
kubectl of that release, building them once into a cache outside the repository.
"""

from generator.kubebuild.build import Built, cache_root, ensure, release_dir
from generator.kubebuild.recipe import COMMANDS, DAEMONS
from generator.kubebuild.toolchain import BuildFailed, Unavailable

__all__ = ["COMMANDS", "DAEMONS", "BuildFailed", "Built", "Unavailable", "cache_root", "ensure", "release_dir"]
