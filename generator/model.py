"""The cluster file, its defaults and its validation. Everything downstream reads a `Cluster`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from generator import address_plan, checks, day2_checks, loader, recovery_checks, schema
from generator.schema import Problem, alias
from generator.stored import read_limited
from generator.versions import ETCD_PAIRED, Release, parse_release

REPO = Path(__file__).resolve().parent.parent
CLUSTERS_DIR = REPO / "clusters"
BUILD_DIR = REPO / "build"  # build/<cluster>/: what render writes, keys and passwords included
MAX_PROBLEMS = 20  # lines shown for one file; a fuzzed or generated file can have thousands


@dataclass(frozen=True)
class Node:
    name: str
    ip: str
    roles: tuple[str, ...] = ("master", "etcd")

    @property
    def host(self) -> str:
        """The IP as written in a URL: IPv6 in brackets."""
        return f"[{self.ip}]" if ":" in self.ip else self.ip


@dataclass(frozen=True)
class Ssh:
    user: str = "root"
    port: int = 22
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Paths:
    bin_dir: str = "/opt/kubernetes/bin"
    config_dir: str = "/etc/kubernetes"
    pki_dir: str = "/etc/kubernetes/pki"
    systemd_dir: str = "/etc/systemd/system"
    etcd_data_dir: str = "/var/lib/etcd"
    log_dir: str = "/var/log/kubernetes"


@dataclass(frozen=True)
class ApiServer:
    vip: str | None = None
    external_address: str | None = None
    port: int = 8443
    secure_port: int = 6443


@dataclass(frozen=True)
class Network:
    service_cidr: str = "10.254.0.0/16"
    cluster_domain: str = "cluster.local"


@dataclass(frozen=True)
class Subject:
    C: str = "CN"
    ST: str = "Shanghai"
    L: str = "Shanghai"
    OU: str = "System"


@dataclass(frozen=True)
class KeySpec:
    algo: str = "rsa"
    size: int = 2048


@dataclass(frozen=True)
class Certificates:
    subject: Subject = field(default_factory=Subject)
    key: KeySpec = field(default_factory=KeySpec)
    ca_days: int = 3650
    leaf_days: int = 365
    renew_before_days: int = 30
    # "separate" (etcd and front-proxy CAs of their own), "single" (one CA for everything, as in the seeds), or
    # empty: separate for a new build, and whatever an existing build was made with (see generator/trust.py).
    layout: str = ""


@dataclass(frozen=True)
class LoadBalancer:
    kind: str = "haproxy-keepalived"
    interface: str = "eth0"
    virtual_router_id: int = 51
    priority: int = 100
    stats_port: int = 9000


# Leader election of kube-scheduler and kube-controller-manager, shorter than upstream's 15s / 10s / 2s: a leader
# killed outright holds its lease until it expires, and nothing is scheduled meanwhile. Measured in the lab's
# rehearsal (1.36.3, 3 masters on real systemd, kill -9 of the leader halfway through 1,000 pods), the gap without
# a binding: 17.9 s at 15s/10s/2s, 8.1 s at 6s/4s/1s, 6.7 s at 5s/3s/1s; at 5s/3s/1s no leader change during the
# burst, while a kube-apiserver stopped, or anywhere in the deploy's journals (2026-12-07, load 3-10). renewDeadline
# 3s still outlasts haproxy taking a lost kube-apiserver out of the VIP's backends (2.2 s).
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = "5s", "3s", "1s"


@dataclass(frozen=True)
class LeaderElection:
    """Both elected components' lock timings; the defaults are measured (the comment above LEASE_DURATION)."""

    lease_duration: str = LEASE_DURATION
    renew_deadline: str = RENEW_DEADLINE
    retry_period: str = RETRY_PERIOD


@dataclass(frozen=True)
class ClientConnection:
    """A component's client-side rate limit towards kube-apiserver: requests per second, and the burst above it."""

    qps: int
    burst: int


# Client-side rate limits. Upstream's (kube-scheduler 50/100, kube-controller-manager 20/30) make the limit, not the
# daemon, what bounds a burst: every pod placed costs a binding, every pod created a request. `invoke bench
# --scheduler` (bench/results.md, side by side in one run) measured these draining a backlog 1.5-1.9x faster (as
# fast as a client with no limit at all: the machine's CPU bound it) and creating a 1,000-replica Deployment's pods
# 6-9.3x faster; kube-apiserver's own limits (max-requests-inflight,
# and API Priority and Fairness from 1.20) still bound what one client takes. The pages explain them
# (components/kube_scheduler/text.yaml, components/kube_controller_manager/text.yaml).
SCHEDULER_CLIENT = ClientConnection(qps=500, burst=1000)
CONTROLLER_MANAGER_CLIENT = ClientConnection(qps=200, burst=400)


@dataclass(frozen=True)
class SchedulerSettings:
    kubeconfig_server: str = "vip"
    verbosity: int = 2
    leader_election: LeaderElection = field(default_factory=LeaderElection)
    client_connection: ClientConnection = field(default_factory=lambda: SCHEDULER_CLIENT)


@dataclass(frozen=True)
class EtcdSettings:
    # Where the etcd and etcdctl binaries are on the nodes; empty means paths.bin_dir.
    bin_dir: str = ""
    # Empty: the etcd release kubernetes_version is paired with (versions.ETCD_PAIRED), filled in by `load`.
    version: str = ""


@dataclass(frozen=True)
class Audit:
    """kube-apiserver's audit log: the policy (empty: the runbook's own, generator/components/kube_apiserver/
    audit.py; else a Policy file on the workstation) and how the log rotates."""

    policy_file: str = ""
    max_age_days: int = 30
    max_backups: int = 10
    max_size_mb: int = 100


@dataclass(frozen=True)
class ApiServerSettings:
    verbosity: int = 2
    service_node_port_range: str = "30000-32767"
    extra_sans: tuple[str, ...] = ()
    audit: Audit = field(default_factory=Audit)


@dataclass(frozen=True)
class ControllerManagerSettings:
    verbosity: int = 2
    cluster_cidr: str = "172.30.0.0/16"
    kubeconfig_server: str = "vip"
    leader_election: LeaderElection = field(default_factory=LeaderElection)
    client_connection: ClientConnection = field(default_factory=lambda: CONTROLLER_MANAGER_CLIENT)


@dataclass(frozen=True)
class Prerequisites:
    # A kubernetes-server-linux-amd64.tar.gz already on the workstation (offline installs); empty: download it.
    server_tarball: str = ""
    # An etcd-vX-linux-amd64.tar.gz on the workstation; empty: download it.
    etcd_tarball: str = ""
    # A kube-bench_X_linux_amd64.tar.gz on the workstation (verification.cis); empty: download it.
    kube_bench_tarball: str = ""
    # The kwok binary on the workstation (verification.scheduler_rehearsal); empty: download it.
    kwok_binary: str = ""


@dataclass(frozen=True)
class SchedulerRehearsal:
    """The scheduler's rehearsal (generator/components/verification/rehearsal.py): `nodes` simulated nodes, a
    Deployment of `pods` pods bound by the real scheduler, and with `failover` a second burst during which the
    scheduler's leader is killed."""

    nodes: int = 50
    pods: int = 1000
    failover: bool = True


@dataclass(frozen=True)
class Verification:
    """`cis`: the verification chapter runs the CIS Kubernetes Benchmark (kube-bench `kube_bench` release) on every
    master and checks that nothing fails but what the runbook explains. `scheduler_rehearsal`: it binds pods to nodes
    simulated by kwok (`kwok` release) and measures the scheduler."""

    cis: bool = False
    kube_bench: str = "0.15.6"
    # Absent (the default): no rehearsal. A mapping, even `{}`, asks for one.
    scheduler_rehearsal: SchedulerRehearsal | None = None
    kwok: str = "0.8.0"


@dataclass(frozen=True)
class Components:
    kube_scheduler: SchedulerSettings = alias("kube-scheduler", default_factory=SchedulerSettings)
    kube_controller_manager: ControllerManagerSettings = alias(
        "kube-controller-manager", default_factory=ControllerManagerSettings
    )
    kube_apiserver: ApiServerSettings = alias("kube-apiserver", default_factory=ApiServerSettings)
    etcd: EtcdSettings = field(default_factory=EtcdSettings)


@dataclass(frozen=True)
class Upgrade:
    """A planned upgrade: `kubernetes_version` is the release the masters move to, `from` the one they run now.

    The file describes the cluster as it will be; this section says what runs today (generator/day2.py)."""

    from_: str = alias("from", default="")


@dataclass(frozen=True)
class Membership:
    """A planned membership change; `nodes` lists the masters as they will be.

    `joining`: names in `nodes` that do not run yet; `leaving`: nodes that run now and `nodes` no longer lists."""

    joining: tuple[str, ...] = ()
    leaving: tuple[Node, ...] = ()


@dataclass(frozen=True)
class CaRotation:
    """A planned CA rotation: the trust domains whose CA is replaced (`cluster` is the only one built so far)."""

    authorities: tuple[str, ...] = ()


@dataclass(frozen=True)
class Backup:
    """etcd snapshots on a timer on every member (the etcd chapter) and copies on the workstation (`invoke backups
    --fetch`). `every_minutes`: each member's interval (a divisor of 60, or a whole number of hours dividing a day);
    the members take turns within it. `keep`: snapshots each member keeps, and the workstation per member.
    `copy_to`: the workstation's directory for the copies, `<copy_to>/<member>/`; empty: build/<name>/backups."""

    every_minutes: int = 60
    keep: int = 24
    copy_to: str = ""


@dataclass(frozen=True)
class Restore:
    """A planned restore of every etcd member from one snapshot the workstation holds (`invoke backups --fetch` put
    it there, with its `.json` beside it): the restore chapter."""

    snapshot: str = ""


@dataclass(frozen=True)
class QuorumLoss:
    """A lost etcd quorum: every member but `survivor` lost its data; the quorum-loss chapter makes the survivor a
    one-member cluster and adds the others back, one at a time, with no data lost."""

    survivor: str = ""


@dataclass(frozen=True)
class Rebuild:
    """A master whose disk was lost (`node`): the rebuild chapter re-creates it from build/<name>/."""

    node: str = ""


@dataclass(frozen=True)
class ClusterFile:
    name: str
    kubernetes_version: str
    nodes: tuple[Node, ...]
    ssh: Ssh = field(default_factory=Ssh)
    paths: Paths = field(default_factory=Paths)
    api_server: ApiServer = field(default_factory=ApiServer)
    network: Network = field(default_factory=Network)
    certificates: Certificates = field(default_factory=Certificates)
    load_balancer: LoadBalancer = field(default_factory=LoadBalancer)
    prerequisites: Prerequisites = field(default_factory=Prerequisites)
    components: Components = field(default_factory=Components)
    upgrade: Upgrade = field(default_factory=Upgrade)
    membership: Membership = field(default_factory=Membership)
    ca_rotation: CaRotation = field(default_factory=CaRotation)
    backup: Backup = field(default_factory=Backup)
    verification: Verification = field(default_factory=Verification)
    restore: Restore = field(default_factory=Restore)
    quorum_loss: QuorumLoss = field(default_factory=QuorumLoss)
    rebuild: Rebuild = field(default_factory=Rebuild)


@dataclass(frozen=True)
class Cluster:
    """A validated cluster: the file's content plus what follows from it."""

    spec: ClusterFile
    release: Release
    ref: str
    source: Path
    # The file names no etcd version: `spec` holds the one `release` is paired with (with_paired_etcd).
    etcd_paired: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def masters(self) -> tuple[Node, ...]:
        return tuple(n for n in self.spec.nodes if "master" in n.roles)

    @property
    def etcd_members(self) -> tuple[Node, ...]:
        return tuple(n for n in self.spec.nodes if "etcd" in n.roles)

    @property
    def control_plane(self) -> tuple[Node, ...]:
        """etcd members and masters, each once, in the cluster file's order."""
        return tuple(n for n in self.spec.nodes if "etcd" in n.roles or "master" in n.roles)

    @property
    def load_balanced(self) -> bool:
        """False for a single master without a VIP: clients talk to its kube-apiserver directly."""
        api = self.spec.api_server
        return bool(api.external_address or api.vip)

    @property
    def api_host(self) -> str:
        api = self.spec.api_server
        return api.external_address or api.vip or self.masters[0].ip

    @property
    def api_endpoint(self) -> str:
        api = self.spec.api_server
        host = f"[{self.api_host}]" if ":" in self.api_host else self.api_host
        return f"https://{host}:{api.port if self.load_balanced else api.secure_port}"

    def node(self, name: str) -> Node:
        return next(n for n in self.spec.nodes if n.name == name)


class ClusterFileError(Exception):
    """A cluster file that cannot be used; `str()` has one line per problem (at most MAX_PROBLEMS of them)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = [p.render(source) for p in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            lines.append(f"{source}: and {len(problems) - MAX_PROBLEMS} more problems")
        super().__init__("\n".join(lines))


def resolve(ref: str) -> Path:
    """`example` means clusters/example.yaml; anything with a slash or .yaml suffix is a path."""
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        return Path(ref)
    return CLUSTERS_DIR / f"{ref}.yaml"


def safe_ref(ref: str) -> bool:
    """Whether `--cluster` (a name or a path) may appear in pages and commands: letters (any script), digits, spaces
    and ._/+- only, not starting with '-'. Markup, shell syntax and control characters are refused, not escaped."""
    return 0 < len(ref) <= 1024 and not ref.startswith("-") and all(c.isalnum() or c in " ._/+-" for c in ref)


def shared_name(name: str, other: Path) -> Problem:
    return Problem("name", name, f"one cluster per name in clusters/: {other} has it too (both would share "
                   "build/<name>/ and one sub-site); rename one")


def all_clusters() -> list[Cluster]:
    """Every cluster file in clusters/, each validated, no two with one name."""
    clusters = [load(str(p), unique=False) for p in sorted(CLUSTERS_DIR.glob("*.yaml"))]
    first: dict[str, Cluster] = {}
    for cluster in clusters:
        other = first.setdefault(cluster.name, cluster)
        if other is not cluster:
            raise ClusterFileError(str(cluster.source), [shared_name(cluster.name, other.source)])
    return clusters


def same_name(path: Path, name: str) -> Path | None:
    """Another cluster file in clusters/ with this `name`. Only files whose text holds the name are parsed; one that
    cannot be read is left to its own load to report. (Files are told apart by inode: resolving every path of a
    100-cluster directory for each of its loads took seconds.)"""
    own = os.stat(path)
    for entry in sorted(os.scandir(CLUSTERS_DIR), key=lambda e: e.name):
        try:
            info = entry.stat()
            if not entry.name.endswith(".yaml") or (info.st_dev, info.st_ino) == (own.st_dev, own.st_ino):
                continue
            raw = read_limited(Path(entry.path), loader.MAX_BYTES)
        except OSError:
            continue
        if name.encode() in raw:
            data, problems = loader.read(Path(entry.path))
            if not problems and isinstance(data, dict) and data.get("name") == name:
                return Path(entry.path)
    return None


def load(ref: str, unique: bool = True) -> Cluster:
    """The validated cluster of `ref`; ClusterFileError (one line per problem) for anything wrong with it. A file
    in clusters/ is compared with the others there for its name, unless `unique` is False: then the caller compares
    all of them at once (all_clusters)."""
    if not safe_ref(ref):
        raise ClusterFileError(schema.shorten(ref), [Problem(
            "", "the file name", "a cluster file name of letters, digits, spaces and ._/+- (not markup, shell syntax "
            "or control characters); rename the file")])
    path = resolve(ref)
    shown = str(path)
    if path.resolve().is_relative_to(BUILD_DIR.resolve()):
        # Read, its text could come back in a problem line: an encryption key, a kubeconfig, a stats password.
        raise ClusterFileError(shown, [Problem("", "a file under build/", "refused unread: build/ holds what render "
                                               "wrote (keys, kubeconfigs, passwords), never a cluster file; cluster "
                                               "files live in clusters/")])
    data, problems = loader.read(path)
    if problems:
        raise ClusterFileError(shown, problems)
    spec = schema.build(ClusterFile, data, "", problems)
    if spec is None:
        raise ClusterFileError(shown, problems or [Problem("", "the file", "not a cluster file")])
    # Every field has its type (unknown keys were only noted), so the meaning checks can run too.
    release = parse_release(spec.kubernetes_version)
    if isinstance(release, str):
        problems.append(Problem("kubernetes_version", spec.kubernetes_version, release))
    problems.extend(checks.check(spec))
    if isinstance(release, Release):
        problems.extend(checks.check_for_release(spec, release))
    problems.extend(address_plan.check(spec))
    problems.extend(day2_checks.check(spec))
    # The recovery chapters ask what the members' etcd can do: the release's paired one when the file names none.
    problems.extend(recovery_checks.check(with_paired_etcd(spec, release) if isinstance(release, Release) else spec))
    in_clusters = path.resolve().parent == CLUSTERS_DIR and path.suffix == ".yaml"
    twin = same_name(path, spec.name) if in_clusters and unique and not problems else None
    if twin is not None:
        problems.append(shared_name(spec.name, twin))
    if problems or not isinstance(release, Release):
        raise ClusterFileError(shown, problems)
    if in_clusters:
        ref = path.stem
    return Cluster(spec=with_paired_etcd(spec, release), release=release, ref=ref, source=path,
                   etcd_paired=not spec.components.etcd.version)


def with_etcd_version(spec: ClusterFile, version: str) -> ClusterFile:
    return replace(spec, components=replace(spec.components, etcd=replace(spec.components.etcd, version=version)))


def with_paired_etcd(spec: ClusterFile, release: Release) -> ClusterFile:
    """The file as everything downstream reads it: no etcd version means the one `release` is paired with."""
    return spec if spec.components.etcd.version else with_etcd_version(spec, ETCD_PAIRED.at(release))


def as_written(cluster: Cluster) -> ClusterFile:
    """The spec as its file says it: without the etcd version the release gave it."""
    return with_etcd_version(cluster.spec, "") if cluster.etcd_paired else cluster.spec
