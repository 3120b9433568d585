"""kube-scheduler facts by Kubernetes release (sources: docs/versions.md)."""

from __future__ import annotations

from dataclasses import dataclass

from generator.versions import Release, Timeline

CONFIG_API = Timeline(
    ((1, 12), "kubescheduler.config.k8s.io/v1alpha1"),
    ((1, 19), "kubescheduler.config.k8s.io/v1beta1"),
    ((1, 22), "kubescheduler.config.k8s.io/v1beta2"),
    ((1, 23), "kubescheduler.config.k8s.io/v1beta3"),
    ((1, 25), "kubescheduler.config.k8s.io/v1"),
)
# The default lock of each era; `endpoints` and `configmaps` locks were removed in 1.24.
LOCK = Timeline(((1, 12), "endpoints"), ((1, 17), "endpointsleases"), ((1, 20), "leases"))
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
