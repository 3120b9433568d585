"""kube-scheduler facts by Kubernetes release (sources: docs/versions.md)."""

from __future__ import annotations

from dataclasses import dataclass

from generator.versions import KLOG_FILE_FLAGS, LOCKS, Release, Span, Timeline, every_minor

GROUP = "kubescheduler.config.k8s.io"
# The version this generator writes for each release...
CONFIG_API = Timeline(
    ((1, 12), f"{GROUP}/v1alpha1"),
    ((1, 19), f"{GROUP}/v1beta1"),
    ((1, 22), f"{GROUP}/v1beta2"),
    ((1, 23), f"{GROUP}/v1beta3"),
    ((1, 25), f"{GROUP}/v1"),
)
# ...and every version of KubeSchedulerConfiguration each release decodes (lint: any other stops the start with `no
# kind "KubeSchedulerConfiguration" is registered for version`). v1alpha1 removed in 1.19 (#89298); v1alpha2 only in
# 1.18 (#87628); v1beta1 1.19-1.22; v1beta2 removed in 1.28 (#117649), v1beta3 in 1.29 (KEP-785); before 1.25 `v1`
# held only the legacy kind Policy. Measured on the built 1.16, 1.20 and 1.36 binaries (tests/test_kube_binaries.py).
CONFIG_APIS = {
    f"{GROUP}/v1alpha1": Span(removed=(1, 19)),
    f"{GROUP}/v1alpha2": Span(added=(1, 18), removed=(1, 19)),
    f"{GROUP}/v1beta1": Span(added=(1, 19), removed=(1, 23)),
    f"{GROUP}/v1beta2": Span(added=(1, 22), removed=(1, 28)),
    f"{GROUP}/v1beta3": Span(added=(1, 23), removed=(1, 29)),
    f"{GROUP}/v1": Span(added=(1, 25)),
}
_COMMON = {"apiVersion", "kind", "leaderElection", "clientConnection", "percentageOfNodesToScore",
           "podInitialBackoffSeconds", "podMaxBackoffSeconds", "enableProfiling", "enableContentionProfiling"}
# Top-level fields by version (staging/src/k8s.io/kube-scheduler config types): v1beta1 moved bindTimeoutSeconds,
# disablePreemption, algorithmSource and hardPodAffinitySymmetricWeight into profiles and plugin args, v1beta2 added
# parallelism, v1beta3 dropped healthzBindAddress/metricsBindAddress (#104251), 1.28 added delayCacheUntilActive
# (#115754) to the versions it still served.
CONFIG_FIELDS: dict[str, frozenset[str]] = {
    "v1alpha1": frozenset(_COMMON | {"schedulerName", "algorithmSource", "hardPodAffinitySymmetricWeight",
                                     "healthzBindAddress", "metricsBindAddress", "disablePreemption",
                                     "bindTimeoutSeconds", "plugins", "pluginConfig"}),
    "v1alpha2": frozenset(_COMMON | {"healthzBindAddress", "metricsBindAddress", "profiles", "extenders"}),
    "v1beta1": frozenset(_COMMON | {"healthzBindAddress", "metricsBindAddress", "profiles", "extenders"}),
    "v1beta2": frozenset(_COMMON | {"parallelism", "healthzBindAddress", "metricsBindAddress", "profiles",
                                    "extenders"}),
    "v1beta3": frozenset(_COMMON | {"parallelism", "profiles", "extenders", "delayCacheUntilActive"}),
    "v1": frozenset(_COMMON | {"parallelism", "profiles", "extenders", "delayCacheUntilActive"}),
}
# Flags whose life ends inside 1.12-1.36 (measured as kube-apiserver's). --port/--address: ignored with --config,
# a no-op from 1.23 (#96345), removed in 1.24; --lock-object-*: removed in 1.28 (#119130). --kubeconfig has been
# deprecated for --config's clientConnection.kubeconfig throughout (the 1.20 and 1.36 binaries' --help say so).
FLAGS = {
    "--port": Span(removed=(1, 24)),
    "--address": Span(removed=(1, 24)),
    "--lock-object-name": Span(removed=(1, 28)),
    "--lock-object-namespace": Span(removed=(1, 28)),
    "--kubeconfig": Span(deprecated=(1, 12)),
    **KLOG_FILE_FLAGS,
}
# The default lock of each era; `endpoints` and `configmaps` locks were removed in 1.24.
LOCK = Timeline(((1, 12), "endpoints"), ((1, 17), "endpointsleases"), ((1, 20), "leases"))
assert all(CONFIG_APIS[CONFIG_API.at(r)].holds(r) and LOCKS[LOCK.at(r)].holds(r) for r in every_minor()), \
    "the generator would write a config version or a lock the release does not have"
# v1alpha1 named the lock object lockObjectName/lockObjectNamespace; v1beta1 moved to resourceName/Namespace.
LOCK_NAME_KEYS = Timeline(
    ((1, 12), ("lockObjectName", "lockObjectNamespace")),
    ((1, 19), ("resourceName", "resourceNamespace")),
)
SECURE_PORT: Timeline[int | None] = Timeline(((1, 12), None), ((1, 13), 10259))
# Plain-HTTP /healthz and /metrics on 10251 until insecure serving was removed in 1.23 (#96345). With --config,
# `--port`/`--address` are ignored: only the config's healthzBindAddress/metricsBindAddress decide, and both
# default to 0.0.0.0:10251 (unauthenticated, every interface). Measured with the real binaries: v1alpha1 (1.16)
# takes port 0 to switch it off, v1beta1 (1.20) refuses port 0 ("must be between 1 and 65535") and turns "" into
# the default. Binding 127.0.0.1 works in every version, and is where `kubectl get componentstatuses` looks.
INSECURE_PORT: Timeline[int | None] = Timeline(((1, 12), 10251), ((1, 23), None))
# A cleanly stopped leader gives the lease back (ReleaseOnCancel) from 1.21 (#100305); before, the others wait
# for it to expire. Measured in the lab: 2.0 s on 1.36 against ~16 s (leaseDuration 15s) where it does not.
RELEASES_LOCK_ON_STOP = Timeline(((1, 12), False), ((1, 21), True))
HEALTH_PATHS = Timeline(((1, 12), ("/healthz",)), ((1, 30), ("/healthz", "/livez")))


@dataclass(frozen=True)
class SchedulerFacts:
    config_api: str
    lock: str
    lock_name_keys: tuple[str, str]
    secure_port: int | None
    insecure_port: int | None
    health_paths: tuple[str, ...]
    releases_lock_on_stop: bool

    @property
    def insecure_loopback(self) -> bool:
        """Is the insecure port kept to 127.0.0.1? Yes wherever a secure port serves the outside instead."""
        return bool(self.insecure_port and self.secure_port)

    @property
    def leader_from_lease(self) -> bool:
        # endpointsleases writes both objects, but only `leases` is certain to have the Lease.
        return self.lock == "leases"


def facts(release: Release) -> SchedulerFacts:
    return SchedulerFacts(
        config_api=CONFIG_API.at(release),
        lock=LOCK.at(release),
        lock_name_keys=LOCK_NAME_KEYS.at(release),
        secure_port=SECURE_PORT.at(release),
        insecure_port=INSECURE_PORT.at(release),
        health_paths=HEALTH_PATHS.at(release),
        releases_lock_on_stop=RELEASES_LOCK_ON_STOP.at(release),
    )
