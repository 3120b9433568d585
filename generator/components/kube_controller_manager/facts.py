"""kube-controller-manager facts by Kubernetes release. PR numbers are kubernetes/kubernetes pull requests.

kube-controller-manager has no config file: every fact below is a command-line flag.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.versions import KLOG_FILE_FLAGS, LOCKS, Release, Span, Timeline, every_minor

# Secure serving on 10257 from 1.12 (#67069), the oldest release this generator supports.
SECURE_PORT = 10257
# The insecure port 10252 (unauthenticated /healthz, /metrics) is served until 1.22, where insecure serving was
# disabled and `--port` became inert (#96216); `--port` and `--address` were removed in 1.24 (#106860). Until
# then it is kept on 127.0.0.1 (`--address=127.0.0.1`): `kubectl get componentstatuses` of 1.12-1.21 probes
# http://127.0.0.1:10252/healthz, so `--port=0` would make a healthy controller manager read Unhealthy.
INSECURE_PORT: Timeline[int | None] = Timeline(((1, 12), 10252), ((1, 22), None))
# Flags whose life begins or ends inside the supported releases, for lint and the timelines below (measured as
# kube-apiserver's).
FLAGS = {
    # insecure serving, disabled in 1.22 (#96216): the flags removed in 1.24 (#106860)
    "--port": Span(removed=(1, 24)),
    "--address": Span(removed=(1, 24)),
    # `--cluster-signing-duration` replaced `--experimental-cluster-signing-duration` in 1.19 (#91154); the
    # experimental spelling was removed in 1.25 (#108476).
    "--cluster-signing-duration": Span(added=(1, 19)),
    "--experimental-cluster-signing-duration": Span(removed=(1, 25), instead="--cluster-signing-duration"),
    # a no-op since 1.31 (the service load-balancer controller left for cloud-controller-manager), removed in 1.37
    # (#138002)
    "--concurrent-service-syncs": Span(removed=(1, 37), instead=(
        "nothing: delete it (cloud-controller-manager, which runs the service controller, has its own)")),
    **KLOG_FILE_FLAGS,
}
SIGNING_DURATION_FLAG = Timeline(
    ((1, 12), "--experimental-cluster-signing-duration"),
    (FLAGS["--cluster-signing-duration"].added, "--cluster-signing-duration"),
)
# The default lock of each era, as for kube-scheduler: `endpoints` until 1.16, `endpointsleases` 1.17-1.19
# (#84084), `leases` from 1.20 (#94603). `endpoints`/`configmaps` locks were removed in 1.24 (#106852) and the
# migration locks `endpointsleases`/`configmapsleases` in 1.28 (#117558): always emitting the era's default
# keeps every release valid and makes the lock explicit on the page.
LOCK = Timeline(((1, 12), "endpoints"), ((1, 17), "endpointsleases"), ((1, 20), "leases"))
assert all(LOCKS[LOCK.at(release)].holds(release) for release in every_minor()), "a lock the release lacks"
# Unlike kube-scheduler (1.21, #100305), a stopped kube-controller-manager keeps its lease until it expires: the
# release-on-exit behaviour is the alpha gate ControllerManagerReleaseLeaderElectionLockOnExit of 1.36, off by
# default (k8s.io/controller-manager pkg/features). Measured in the lab on 1.36: ~16 s with leaseDuration 15s.
RELEASES_LOCK_ON_STOP = False


@dataclass(frozen=True)
class ControllerManagerFacts:
    secure_port: int
    insecure_port: int | None
    signing_duration_flag: str
    lock: str
    releases_lock_on_stop: bool

    @property
    def leader_from_lease(self) -> bool:
        # endpointsleases writes both objects, but only `leases` is certain to have the Lease.
        return self.lock == "leases"


def facts(release: Release) -> ControllerManagerFacts:
    return ControllerManagerFacts(
        secure_port=SECURE_PORT,
        insecure_port=INSECURE_PORT.at(release),
        signing_duration_flag=SIGNING_DURATION_FLAG.at(release),
        lock=LOCK.at(release),
        releases_lock_on_stop=RELEASES_LOCK_ON_STOP,
    )

# With --allocate-node-cidrs (this runbook's) every node gets a range of --cluster-cidr of --node-cidr-mask-size,
# left at its default: /24 of an IPv4 network, /64 of an IPv6 one. The pod network must be at least that large
# (`Invalid --cluster-cidr, mask size of cluster CIDR must be less than or equal to --node-cidr-mask-size`), and an
# IPv6 one at most 2^16 node ranges larger (`New CIDR set failed; the node CIDR size is too big`: cidrset's
# clusterSubnetMaxDiff, the bitmap's limit), so /48 to /64.
NODE_CIDR_MASK = {4: 24, 6: 64}
CLUSTER_SUBNET_MAX_DIFF = 16
