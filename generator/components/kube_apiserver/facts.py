"""kube-apiserver facts by Kubernetes release. PR numbers are kubernetes/kubernetes pull requests.

Flags this generator never emits, and why (so nobody adds them back from an old guide):
- `--enable-admission-plugins=Initializers,...`: the alpha Initializers plugin was removed in 1.14 (#72972) and
  its API group was never on by default (dropped from kube-up defaults in 1.12, #66039); start fails with
  `plugin "Initializers" is unknown` on 1.14+.
- `--enable-swagger-ui`: inert since 1.14 (#72924), removed in 1.24 (#105032).
- `--kubelet-https`: deprecated in 1.19 (#91630), removed in 1.22 (#101178); kubelet connections are always HTTPS.
- `--logtostderr`, `--alsologtostderr`, `--log-dir`: klog flags deprecated in 1.23, removed in 1.26 (#112120);
  systemd's journal collects stderr in every release.
- `--apiserver-count`: only meaningful for the old `master-count` endpoint reconciler; the default `lease`
  reconciler needs no count (seed 004 misreads it as leader election: every apiserver serves).
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.versions import KLOG_FILE_FLAGS, Release, Span, Timeline

# Flags whose life begins or ends inside 1.12-1.36 (every other flag this generator writes exists throughout); lint
# reports them in a unit of a release that lacks them, and the timelines below are built from them. Measured with
# `--version` after the flag on the built 1.16, 1.20 and 1.36 binaries (tests/test_kube_binaries.py).
# Insecure serving: a no-op that may only be 0 from 1.20 (#95856), the flags removed in 1.24 (#106859).
INSECURE_FLAGS_REMOVED = (1, 24)
FLAGS = {
    **{flag: Span(removed=INSECURE_FLAGS_REMOVED)
       for flag in ("--insecure-port", "--insecure-bind-address", "--address", "--port")},
    "--encryption-provider-config": Span(added=(1, 13)),  # #71206
    "--experimental-encryption-provider-config": Span(removed=(1, 24)),  # #108423
    "--enable-swagger-ui": Span(removed=(1, 24)),  # inert since 1.14 (#72924), removed by #105032
    "--kubelet-https": Span(removed=(1, 22)),  # #101178
    "--shutdown-send-retry-after": Span(added=(1, 23)),  # #101257
    **KLOG_FILE_FLAGS,
}

# Admission plugins whose life begins or ends inside the supported releases: a plugin the release lacks in
# --enable-admission-plugins stops the start with `plugin "Name" is unknown`. The generator enables NodeRestriction
# (every release has it); lint and `invoke upgrade-plan` name these in units written by hand. 1.37 dropped two
# alpha plugins of gang-scheduled workloads with the scheduling.k8s.io/v1alpha2 API they read (#139008;
# pkg/kubeapiserver/options/plugins.go of v1.36.3 against v1.37.2).
ADMISSION_PLUGINS = {
    "Initializers": Span(removed=(1, 14), instead="mutating admission webhooks (the Initializers API is gone)"),
    "PodGroupWorkloadExists": Span(added=(1, 36), removed=(1, 37), instead="nothing: delete it (the PodGroup API "
                                   "it checked, scheduling.k8s.io/v1alpha2, is gone too)"),
    "JobValidation": Span(added=(1, 36), removed=(1, 37), instead="nothing: delete it (it validated Jobs against "
                          "scheduling.k8s.io/v1alpha2 PodGroups, gone too)"),
}

# The encryption config file format moved to apiserver.config.k8s.io/v1 `EncryptionConfiguration` in 1.13
# (#67383); 1.12 reads the legacy unversioned `kind: EncryptionConfig, apiVersion: v1`.
ENCRYPTION_API = Timeline(
    ((1, 12), ("v1", "EncryptionConfig")),
    ((1, 13), ("apiserver.config.k8s.io/v1", "EncryptionConfiguration")),
)
# `--encryption-provider-config` replaced `--experimental-encryption-provider-config` in 1.13 (#71206); the
# experimental spelling was finally removed in 1.24 (#108423).
ENCRYPTION_FLAG = Timeline(
    ((1, 12), "--experimental-encryption-provider-config"),
    (FLAGS["--encryption-provider-config"].added, "--encryption-provider-config"),
)
# The insecure port (8080 by default) must be switched off with --insecure-port=0 until 1.20, where insecure
# serving was removed and the flag may only be 0 (#95856); the flag itself is gone in 1.24 (#106859), where
# passing it stops the start with `unknown flag: --insecure-port`.
DISABLE_INSECURE_PORT = Timeline(((1, 12), True), (INSECURE_FLAGS_REMOVED, False))
# From 1.20 the apiserver refuses to start without --service-account-issuer and
# --service-account-signing-key-file (#95896, the TokenRequest/bound-token validation).
SA_ISSUER_REQUIRED = Timeline(((1, 12), False), ((1, 20), True))
# /readyz appeared in 1.16 (#78458); before it, /healthz is the only aggregate check.
READY_PATH = Timeline(((1, 12), "/healthz"), ((1, 16), "/readyz?verbose"))
# The last line of a passing `/readyz?verbose`: it said "healthz check passed" until the handler learned its own
# name in 1.20 (k8s.io/apiserver pkg/server/healthz/healthz.go, checked in v0.16.15 to v0.19.16 and v0.20.15).
READY_VERDICT = Timeline(((1, 12), "healthz check passed"), ((1, 20), "readyz check passed"))
# From 1.37 the apiserver checks --advertise-address as an Endpoints address before it starts (#138102): loopback
# (127.0.0.0/8, ::1) and link-local (169.254.0.0/16, fe80::/10) stop it with `cannot use public IP ... with endpoint
# reconciler`. Before, a one-machine cluster could give each master a 127.x address; the cluster file's check refuses
# one from 1.37 on (generator/checks.py).
ADVERTISE_ENDPOINT_IP = Timeline(((1, 12), False), ((1, 37), True))
# `--shutdown-send-retry-after` (1.23, #101257): after the shutdown delay, requests still arriving on kept-alive
# connections get 429 + `Connection: close` instead of hanging, so clients reconnect to another apiserver.
SEND_RETRY_AFTER = Timeline(((1, 12), False), (FLAGS["--shutdown-send-retry-after"].added, True))
# --service-account-extend-token-expiration (1.19, with bound service-account tokens): tokens projected into pods
# are issued for a year while the apiserver warns about their use past an hour; the CIS benchmark (1.2.30) wants
# it off, so a token lives as long as it says.
SA_EXTEND_FLAG = Timeline(((1, 12), False), ((1, 19), True))


@dataclass(frozen=True)
class ApiServerFacts:
    encryption_api: str
    encryption_kind: str
    encryption_flag: str
    disable_insecure_port: bool
    sa_issuer_required: bool
    ready_path: str
    ready_verdict: str
    send_retry_after: bool
    advertise_endpoint_ip: bool
    sa_extend_flag: bool

    @property
    def has_readyz(self) -> bool:
        return self.ready_path.startswith("/readyz")

    @property
    def lb_health_path(self) -> str:
        """What a load balancer should check: /readyz fails as soon as a shutdown starts, /healthz does not."""
        return "/readyz" if self.has_readyz else "/healthz"


def facts(release: Release) -> ApiServerFacts:
    api, kind = ENCRYPTION_API.at(release)
    return ApiServerFacts(
        encryption_api=api,
        encryption_kind=kind,
        encryption_flag=ENCRYPTION_FLAG.at(release),
        disable_insecure_port=DISABLE_INSECURE_PORT.at(release),
        sa_issuer_required=SA_ISSUER_REQUIRED.at(release),
        ready_path=READY_PATH.at(release),
        ready_verdict=READY_VERDICT.at(release),
        send_retry_after=SEND_RETRY_AFTER.at(release),
        advertise_endpoint_ip=ADVERTISE_ENDPOINT_IP.at(release),
        sa_extend_flag=SA_EXTEND_FLAG.at(release),
    )

# The service network's largest size: at most 2^20 addresses (IPv4 /12, IPv6 /108) while the ClusterIP allocator
# is a bitmap kept in etcd (`specified --service-cluster-ip-range is too large; for 32-bit addresses, the mask must
# be >= 12`, pkg/controlplane/apiserver/options/validation.go); no limit once MultiCIDRServiceAllocator and
# DisableAllocatorDualWrite are both on by default, in 1.34 (ServiceCIDR objects, one IPAddress object per ClusterIP).
SERVICE_CIDR_MAX_HOST_BITS: Timeline[int | None] = Timeline(((1, 12), 20), ((1, 34), None))
# ... and its smallest: `the service cluster IP range must be at least 8 IP addresses` (the first is the kubernetes
# service's ClusterIP), in every release.
SERVICE_CIDR_MIN_ADDRESSES = 8
