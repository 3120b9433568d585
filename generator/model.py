"""The cluster file, its defaults and its validation. Everything downstream reads a `Cluster`."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from generator import schema
from generator.schema import Problem, alias
from generator.versions import Release, parse_release, supported_range

REPO = Path(__file__).resolve().parent.parent
CLUSTERS_DIR = REPO / "clusters"

RFC1123_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
SAFE_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
SAFE_WORD = re.compile(r"[A-Za-z0-9 ._:@=/+-]*")
# ssh options may also hold ssh's own %-tokens (ControlPath=...%C) and comma lists; still no shell syntax
SSH_OPTION = re.compile(r"[A-Za-z0-9 ._:@=/+%,-]*")
DURATION = re.compile(r"([0-9]+)s")
INTERFACE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
PORT_RANGE = re.compile(r"([0-9]{1,5})-([0-9]{1,5})")
ETCD_RELEASE = re.compile(r"v?([0-9]+)\.([0-9]+)\.([0-9]+)")
WORKSTATION_PATH = re.compile(r"[A-Za-z0-9._/+][A-Za-z0-9._/+-]*")  # no leading "-": not an option
ROLES = ("master", "etcd")
# Ports every master listens on whatever the cluster file says.
FIXED_PORTS = {
    2379: "etcd client (fixed)",
    2380: "etcd peer (fixed)",
    10257: "kube-controller-manager secure port (fixed)",
    10259: "kube-scheduler secure port (fixed)",
}
# The patterns above are used with `fullmatch`: with `match`, `$` would also accept a trailing newline.

BadFn = Callable[[str, object, str], None]


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


@dataclass(frozen=True)
class LoadBalancer:
    kind: str = "haproxy-keepalived"
    interface: str = "eth0"
    virtual_router_id: int = 51
    priority: int = 100
    stats_port: int = 9000


@dataclass(frozen=True)
class LeaderElection:
    lease_duration: str = "15s"
    renew_deadline: str = "10s"
    retry_period: str = "2s"


@dataclass(frozen=True)
class SchedulerSettings:
    kubeconfig_server: str = "vip"
    verbosity: int = 2
    leader_election: LeaderElection = field(default_factory=LeaderElection)


@dataclass(frozen=True)
class EtcdSettings:
    # Where the etcd and etcdctl binaries are on the nodes; empty means paths.bin_dir.
    bin_dir: str = ""
    version: str = "3.5.15"


@dataclass(frozen=True)
class ApiServerSettings:
    verbosity: int = 2
    service_node_port_range: str = "30000-32767"
    extra_sans: tuple[str, ...] = ()


@dataclass(frozen=True)
class ControllerManagerSettings:
    verbosity: int = 2
    cluster_cidr: str = "172.30.0.0/16"
    kubeconfig_server: str = "vip"
    leader_election: LeaderElection = field(default_factory=LeaderElection)


@dataclass(frozen=True)
class Prerequisites:
    # A kubernetes-server-linux-amd64.tar.gz already on the workstation (offline installs); empty: download it.
    server_tarball: str = ""
    # An etcd-vX-linux-amd64.tar.gz on the workstation; empty: download it.
    etcd_tarball: str = ""


@dataclass(frozen=True)
class Components:
    kube_scheduler: SchedulerSettings = alias("kube-scheduler", default_factory=SchedulerSettings)
    kube_controller_manager: ControllerManagerSettings = alias(
        "kube-controller-manager", default_factory=ControllerManagerSettings
    )
    kube_apiserver: ApiServerSettings = alias("kube-apiserver", default_factory=ApiServerSettings)
    etcd: EtcdSettings = field(default_factory=EtcdSettings)


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


@dataclass(frozen=True)
class Cluster:
    """A validated cluster: the file's content plus what follows from it."""

    spec: ClusterFile
    release: Release
    ref: str
    source: Path

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
    """A cluster file that cannot be used; `str()` has one line per problem."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.render(source) for p in problems))


class StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader, except that a key given twice in one mapping is an error, not a silent override."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` may be overridden on purpose
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key {key!r} (first given on line {first.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def resolve(ref: str) -> Path:
    """`example` means clusters/example.yaml; anything with a slash or .yaml suffix is a path."""
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        return Path(ref)
    return CLUSTERS_DIR / f"{ref}.yaml"


def load(ref: str) -> Cluster:
    path = resolve(ref)
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ClusterFileError(shown, [Problem("", ref, f"cannot read the cluster file ({err.strerror})")]) from None
    try:
        data = yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        reason = getattr(err, "problem", None) or str(err)
        raise ClusterFileError(shown, [Problem("", where, f"malformed YAML: {reason}")]) from None
    problems: list[Problem] = []
    spec = schema.build(ClusterFile, data, "", problems)
    if spec is None:
        raise ClusterFileError(shown, problems or [Problem("", data, "not a cluster file")])
    # Every field has its type (unknown keys were only noted), so the meaning checks can run too.
    release = parse_release(spec.kubernetes_version)
    if isinstance(release, str):
        if supported_range() not in release:
            release += f"; supported: {supported_range()}"
        problems.append(Problem("kubernetes_version", spec.kubernetes_version, release))
    problems.extend(check(spec))
    if problems:
        raise ClusterFileError(shown, problems)
    assert isinstance(release, Release)
    if path.resolve().parent == CLUSTERS_DIR and path.suffix == ".yaml":
        ref = path.stem
    return Cluster(spec=spec, release=release, ref=ref, source=path)


def check(spec: ClusterFile) -> list[Problem]:
    """Meaning checks across fields; types and unknown keys were checked by `schema.build`."""
    problems: list[Problem] = []

    def bad(path: str, value: object, expected: str) -> None:
        problems.append(Problem(path, value, expected))

    if not RFC1123_LABEL.fullmatch(spec.name):
        bad("name", spec.name, "an RFC 1123 label: lowercase letters, digits and '-', at most 63")
    if not spec.nodes:
        bad("nodes", [], "at least one node")
    seen_names: dict[str, int] = {}
    seen_ips: dict[object, int] = {}
    for i, node in enumerate(spec.nodes):
        where = f"nodes[{i}]"
        if not RFC1123_LABEL.fullmatch(node.name):
            bad(f"{where}.name", node.name, "an RFC 1123 label: lowercase letters, digits and '-', at most 63")
        elif node.name in seen_names:
            bad(f"{where}.name", node.name, f"unique; nodes[{seen_names[node.name]}] has the same name")
        seen_names.setdefault(node.name, i)
        address = ip_key(node.ip)
        if address is None:
            bad(f"{where}.ip", node.ip, "an IPv4 or IPv6 address")
        elif address in seen_ips:
            bad(f"{where}.ip", node.ip, f"unique; nodes[{seen_ips[address]}] has the same IP")
        else:
            seen_ips[address] = i
        for j, role in enumerate(node.roles):
            if role not in ROLES:
                bad(f"{where}.roles[{j}]", role, f"one of: {', '.join(ROLES)}")
    if spec.nodes and not any("master" in n.roles for n in spec.nodes):
        bad("nodes", [n.name for n in spec.nodes], "at least one node with the role 'master'")

    if not SAFE_USER.fullmatch(spec.ssh.user):
        bad("ssh.user", spec.ssh.user, "a login name: lowercase letters, digits, '_' and '-'")
    check_port(bad, "ssh.port", spec.ssh.port)
    for i, option in enumerate(spec.ssh.options):
        if not SSH_OPTION.fullmatch(option):
            bad(f"ssh.options[{i}]", option, "letters, digits, spaces and ._:@=/+%,- only (no shell syntax)")
    for name in ("bin_dir", "config_dir", "pki_dir", "systemd_dir", "etcd_data_dir", "log_dir"):
        value = getattr(spec.paths, name)
        if not SAFE_PATH.fullmatch(value) or "//" in value or value.endswith("/") and value != "/":
            bad(f"paths.{name}", value, "an absolute path of letters, digits and ._- (no spaces, no shell syntax)")

    check_api_server(spec, bad)
    check_network(spec, bad)
    check_certificates(spec, bad)
    check_components(spec, bad)
    return problems


def ip_key(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `value` spells (so fd00::4 and fd00:0::4 compare equal), or None if it is not one.

    IPv6 zone ids ("fe80::1%eth0") are refused: they cannot go in a certificate and may carry any character.
    """
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return None
    return address


def is_ip(value: str) -> bool:
    return ip_key(value) is not None


def check_port(bad: BadFn, path: str, port: int) -> None:
    if not 1 <= port <= 65535:
        bad(path, port, "a TCP port between 1 and 65535")


def check_dns_name(bad: BadFn, path: str, value: str) -> None:
    if value.endswith("."):
        bad(path, value, "a DNS name without a trailing dot (x509: cannot parse dnsName with a trailing dot)")
        return
    labels = value.split(".")
    if not all(RFC1123_LABEL.fullmatch(label) for label in labels) or len(value) > 253:
        bad(path, value, "a DNS name of RFC 1123 labels separated by dots")


def check_api_server(spec: ClusterFile, bad: BadFn) -> None:
    api, lb = spec.api_server, spec.load_balancer
    node_ips = {ip_key(n.ip): n.name for n in spec.nodes}
    masters = sum("master" in n.roles for n in spec.nodes)
    if lb.kind == "haproxy-keepalived":
        if api.vip is None:
            if masters > 1:
                bad("api_server.vip", None, f"the virtual IP that keepalived moves between the {masters} masters "
                    "(only a single master can do without one)")
        elif not is_ip(api.vip):
            bad("api_server.vip", api.vip, "an IPv4 or IPv6 address")
        elif ip_key(api.vip) in node_ips:
            bad("api_server.vip", api.vip, f"an address no node has; node {node_ips[ip_key(api.vip)]} already uses it")
        if api.external_address is not None:
            bad("api_server.external_address", api.external_address,
                "empty with load_balancer.kind haproxy-keepalived (the VIP is the endpoint)")
        if not INTERFACE.fullmatch(lb.interface):
            bad("load_balancer.interface", lb.interface, "a network interface name, at most 15 characters")
        if not 1 <= lb.virtual_router_id <= 255:
            bad("load_balancer.virtual_router_id", lb.virtual_router_id, "an integer between 1 and 255")
        lowest = lb.priority - 10 * (masters - 1)
        if not (1 <= lowest and lb.priority <= 254):
            bad("load_balancer.priority", lb.priority,
                "between 1 and 254, and high enough that each further master can get 10 less")
    elif lb.kind == "external":
        if api.external_address is None:
            bad("api_server.external_address", None, "the load balancer's address (load_balancer.kind is external)")
        elif not is_ip(api.external_address):
            check_dns_name(bad, "api_server.external_address", api.external_address)
    else:
        bad("load_balancer.kind", lb.kind, "one of: haproxy-keepalived, external")
    for name in ("port", "secure_port"):
        check_port(bad, f"api_server.{name}", getattr(api, name))
    check_port(bad, "load_balancer.stats_port", lb.stats_port)
    # Everything that listens on a master, fixed ports first so a collision is blamed on the configurable one.
    owners = dict(FIXED_PORTS)
    owners.setdefault(spec.ssh.port, "sshd (ssh.port)")
    listeners = [("api_server.secure_port", api.secure_port, "kube-apiserver (api_server.secure_port)")]
    if lb.kind == "haproxy-keepalived":
        listeners += [("api_server.port", api.port, "haproxy (api_server.port)"),
                      ("load_balancer.stats_port", lb.stats_port, "haproxy stats (load_balancer.stats_port)")]
    for path, port, what in listeners:
        if port in owners:
            bad(path, port, f"a port nothing else on the masters listens on; {owners[port]} uses {port}")
        else:
            owners[port] = what


def check_network(spec: ClusterFile, bad: BadFn) -> None:
    try:
        net = ipaddress.ip_network(spec.network.service_cidr)
    except ValueError:
        bad("network.service_cidr", spec.network.service_cidr, "a network in CIDR form, e.g. 10.254.0.0/16")
    else:
        if net.num_addresses < 4:
            bad("network.service_cidr", spec.network.service_cidr, "a network with room for services")
    check_dns_name(bad, "network.cluster_domain", spec.network.cluster_domain)


def check_certificates(spec: ClusterFile, bad: BadFn) -> None:
    certs = spec.certificates
    for name in ("C", "ST", "L", "OU"):
        value = getattr(certs.subject, name)
        if not value or not SAFE_WORD.fullmatch(value):
            bad(f"certificates.subject.{name}", value, "a non-empty name of letters, digits, spaces and ._:@=/+-")
    if len(certs.subject.C) != 2:
        bad("certificates.subject.C", certs.subject.C, "a two-letter country code, e.g. CN")
    if certs.key.algo == "rsa":
        if certs.key.size not in (2048, 3072, 4096):
            bad("certificates.key.size", certs.key.size, "2048, 3072 or 4096 for rsa")
    elif certs.key.algo == "ecdsa":
        if certs.key.size != 256:
            bad("certificates.key.size", certs.key.size, "256 for ecdsa (P-256)")
    else:
        bad("certificates.key.algo", certs.key.algo, "rsa or ecdsa")
    if not 365 <= certs.ca_days <= 36500:
        bad("certificates.ca_days", certs.ca_days, "between 365 and 36500 days")
    if not 1 <= certs.leaf_days <= certs.ca_days:
        bad("certificates.leaf_days", certs.leaf_days, "at least 1 day and no longer than the CA lives")
    if not 1 <= certs.renew_before_days < certs.leaf_days:
        bad("certificates.renew_before_days", certs.renew_before_days, "at least 1 and less than leaf_days")


def check_components(spec: ClusterFile, bad: BadFn) -> None:
    comps = spec.components
    sched = comps.kube_scheduler
    check_control_plane_client(bad, "components.kube-scheduler", "kube-scheduler", sched.kubeconfig_server,
                               sched.verbosity, sched.leader_election)
    cm = comps.kube_controller_manager
    where = "components.kube-controller-manager"
    check_control_plane_client(bad, where, "kube-controller-manager", cm.kubeconfig_server, cm.verbosity,
                               cm.leader_election)
    try:
        pods = ipaddress.ip_network(cm.cluster_cidr)
    except ValueError:
        bad(f"{where}.cluster_cidr", cm.cluster_cidr, "a network in CIDR form, e.g. 172.30.0.0/16")
    else:
        try:
            services = ipaddress.ip_network(spec.network.service_cidr)
        except ValueError:
            services = None  # reported by check_network
        if services is not None and pods.version == services.version and pods.overlaps(services):
            bad(f"{where}.cluster_cidr", cm.cluster_cidr,
                f"a pod network apart from network.service_cidr ({spec.network.service_cidr})")
    apiserver = comps.kube_apiserver
    where = "components.kube-apiserver"
    if not 0 <= apiserver.verbosity <= 10:
        bad(f"{where}.verbosity", apiserver.verbosity, "a log level between 0 and 10")
    port_range = PORT_RANGE.fullmatch(apiserver.service_node_port_range)
    if not port_range or not 1 <= int(port_range[1]) < int(port_range[2]) <= 65535:
        bad(f"{where}.service_node_port_range", apiserver.service_node_port_range,
            "a range of TCP ports FIRST-LAST, e.g. 30000-32767")
    for i, san in enumerate(apiserver.extra_sans):
        if not is_ip(san):
            check_dns_name(bad, f"{where}.extra_sans[{i}]", san)
    etcd = comps.etcd
    if etcd.bin_dir and (not SAFE_PATH.fullmatch(etcd.bin_dir) or "//" in etcd.bin_dir):
        bad("components.etcd.bin_dir", etcd.bin_dir,
            "empty (paths.bin_dir) or an absolute path of letters, digits and ._- (no spaces, no shell syntax)")
    release = ETCD_RELEASE.fullmatch(etcd.version)
    if not release or (int(release[1]), int(release[2])) < (3, 2):
        bad("components.etcd.version", etcd.version, 'an etcd release 3.2.0 or later, such as "3.5.15"')
    for name in ("server_tarball", "etcd_tarball"):
        value = getattr(spec.prerequisites, name)
        if value and not WORKSTATION_PATH.fullmatch(value):
            bad(f"prerequisites.{name}", value,
                "empty (download it) or a file path of letters, digits and ._/+- (no spaces, no shell syntax)")


def check_control_plane_client(bad: BadFn, where: str, component: str, kubeconfig_server: str, verbosity: int,
                               election: LeaderElection) -> None:
    """Settings kube-scheduler and kube-controller-manager share: API server choice, log level, leader election."""
    if kubeconfig_server not in ("vip", "local"):
        bad(f"{where}.kubeconfig_server", kubeconfig_server,
            "vip (through the load balancer) or local (this master's own kube-apiserver)")
    if not 0 <= verbosity <= 10:
        bad(f"{where}.verbosity", verbosity, "a log level between 0 and 10")
    durations: dict[str, int] = {}
    for name in ("lease_duration", "renew_deadline", "retry_period"):
        value = getattr(election, name)
        match = DURATION.fullmatch(value)
        if not match or int(match[1]) == 0:
            bad(f"{where}.leader_election.{name}", value, 'a whole number of seconds, e.g. "15s"')
        else:
            durations[name] = int(match[1])
    if len(durations) == 3 and not durations["lease_duration"] > durations["renew_deadline"]:
        bad(f"{where}.leader_election.renew_deadline", election.renew_deadline,
            f"shorter than lease_duration ({component} refuses leaseDuration <= renewDeadline)")
