"""The cluster file's meaning checks across fields; types and unknown keys were checked by `schema.build`.

Every value here ends up in a shell command, a unit, a certificate or a path on the workstation or a node, so the
checks allow what is known to be safe and usable rather than refusing what is known to be dangerous.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from generator import ssh_options
from generator.components.kube_apiserver.facts import facts as apiserver_facts
from generator.schema import Problem

if TYPE_CHECKING:
    from generator.model import ClientConnection, ClusterFile, LeaderElection
    from generator.versions import Release

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
BadFn = Callable[[str, object, str], None]

# The patterns below are used with `fullmatch`: with `match`, `$` would also accept a trailing newline.
RFC1123_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]{0,254}")
SAFE_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
SAFE_WORD = re.compile(r"[A-Za-z0-9 ._:@=/+-]{0,128}")
DURATION = re.compile(r"([0-9]{1,9})s")
INTERFACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")  # not "-x" (an option) nor "." / ".."
PORT_RANGE = re.compile(r"([0-9]{1,5})-([0-9]{1,5})")
TOOL_RELEASE = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4}){1,3}")
ETCD_RELEASE = re.compile(r"v?([0-9]{1,4})\.([0-9]{1,4})\.([0-9]{1,4})")
WORKSTATION_PATH = re.compile(r"[A-Za-z0-9._/+][A-Za-z0-9._/+-]{0,1023}")  # no leading "-": not an option
ROLES = ("master", "etcd")
# certificates.layout: what each means is generator/trust.py's; an empty value is "not chosen".
SEPARATE, SINGLE = "separate", "single"
LAYOUTS = (SEPARATE, SINGLE)
MAX_NODES = 32  # control-plane nodes; etcd itself advises 3, 5 or 7 members
DURATION_SECONDS = (1, 300)
# client-go's leader elector refuses renewDeadline <= JitterFactor * retryPeriod.
JITTER_FACTOR = 1.2
# Client-side rate limits: scheduler_perf runs its scheduler at 5000 requests per second, no more is ever needed.
MAX_QPS = 5000
MAX_BURST = 10000
# The scheduler's rehearsal: simulated nodes each take pods as a kubelet's default of 110 would.
PODS_PER_FAKE_NODE = 110
MAX_FAKE_NODES = 500
MAX_REHEARSAL_PODS = 20000
# Ports every master listens on whatever the cluster file says.
FIXED_PORTS = {
    2379: "etcd client (fixed)",
    2380: "etcd peer (fixed)",
    10257: "kube-controller-manager secure port (fixed)",
    10259: "kube-scheduler secure port (fixed)",
}
# Node directories the runbook creates, fills and (etcd's data) chmods 700: never the system's own directories.
SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/media", "/mnt", "/opt", "/proc", "/root",
    "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/usr/bin", "/usr/lib", "/usr/lib64", "/usr/local",
    "/usr/local/bin", "/usr/local/lib", "/usr/local/sbin", "/usr/sbin", "/usr/share", "/var/lib", "/var/log",
    "/var/run", "/var/tmp", "/etc/systemd", "/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system",
})
PSEUDO_FILESYSTEMS = ("/proc", "/sys", "/dev")
# ...except where a directory is meant to be shared: binaries beside the system's, units where systemd reads them.
SHARED_OK = {
    "bin_dir": {"/usr/bin", "/usr/local/bin", "/usr/sbin", "/usr/local/sbin"},
    "systemd_dir": {"/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"},
}
LOCALHOST = ("127.0.0.1", "::1")
NODE_PATH = "an absolute path of letters, digits and ._-, normalised (no spaces, no shell syntax, no '..' or '//')"


def etcd_at_least(version: str, minor: tuple[int, int]) -> bool:
    """Whether an etcd release (components.etcd.version, checked elsewhere) is `minor` or later; False when it is
    not a release at all."""
    match = ETCD_RELEASE.fullmatch(version)
    return bool(match) and (int(match[1]), int(match[2])) >= minor


def check(spec: ClusterFile) -> list[Problem]:
    problems: list[Problem] = []

    def bad(path: str, value: object, expected: str) -> None:
        problems.append(Problem(path, value, expected))

    if not RFC1123_LABEL.fullmatch(spec.name):
        bad("name", spec.name, "an RFC 1123 label: lowercase letters, digits and '-', at most 63")
    check_nodes(spec, bad)
    if not SAFE_USER.fullmatch(spec.ssh.user):
        bad("ssh.user", spec.ssh.user, "a login name: lowercase letters, digits, '_' and '-'")
    check_port(bad, "ssh.port", spec.ssh.port)
    for i, option in enumerate(spec.ssh.options):
        wrong = ssh_options.problem(option) or ssh_options.confined(option, spec.name)
        if wrong:
            bad(f"ssh.options[{i}]", option, wrong)
    for name in ("bin_dir", "config_dir", "pki_dir", "systemd_dir", "etcd_data_dir", "log_dir"):
        check_node_path(bad, f"paths.{name}", getattr(spec.paths, name), SHARED_OK.get(name, set()))
    check_api_server(spec, bad)
    check_certificates(spec, bad)
    check_components(spec, bad)
    check_verification(spec, bad)
    return problems


def check_nodes(spec: ClusterFile, bad: BadFn) -> None:
    if not spec.nodes:
        bad("nodes", [], "at least one node")
    elif len(spec.nodes) > MAX_NODES:
        bad("nodes", f"{len(spec.nodes)} nodes", f"at most {MAX_NODES} (masters and etcd members of one control plane)")
        return  # one line, not one per node
    seen_names: dict[str, int] = {}
    seen_ips: dict[IPAddress, int] = {}
    for i, node in enumerate(spec.nodes):
        where = f"nodes[{i}]"
        if not RFC1123_LABEL.fullmatch(node.name):
            bad(f"{where}.name", node.name, "an RFC 1123 label: lowercase letters, digits and '-', at most 63")
        elif node.name in seen_names:
            bad(f"{where}.name", node.name, f"unique; nodes[{seen_names[node.name]}] has the same name")
        seen_names.setdefault(node.name, i)
        address = usable_address(bad, f"{where}.ip", node.ip)
        if address in seen_ips:
            bad(f"{where}.ip", node.ip, f"unique; nodes[{seen_ips[address]}] has the same IP")
        elif address is not None:
            seen_ips[address] = i
        for j, role in enumerate(node.roles):
            if role not in ROLES:
                bad(f"{where}.roles[{j}]", role, f"one of: {', '.join(ROLES)}")
    for role in ROLES:  # no etcd member: kube-apiserver would start with an empty --etcd-servers=
        if spec.nodes and not any(role in n.roles for n in spec.nodes):
            bad("nodes", [n.name for n in spec.nodes], f"at least one node with the role {role!r}")


def check_node_path(bad: BadFn, path: str, value: str, shared_ok: set[str]) -> None:
    """A directory on the nodes: normalised (what render writes under build/<cluster>/nodes/<node>/ must stay
    there), and not one the system owns (the runbook creates, fills and may chmod it)."""
    if not SAFE_PATH.fullmatch(value) or value != "/" and (
            value.endswith("/") or {"", ".", ".."} & set(value.split("/")[1:])):
        bad(path, value, NODE_PATH)
    elif value in SYSTEM_DIRS - shared_ok or any(value.startswith(f"{p}/") for p in PSEUDO_FILESYSTEMS):
        bad(path, value, "a directory of its own, e.g. /var/lib/etcd, not / or a system directory such as /etc")


def ip_key(value: str) -> IPAddress | None:
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


def check_for_release(spec: ClusterFile, release: Release) -> list[Problem]:
    """What the release itself refuses of values the other checks allow."""
    problems: list[Problem] = []
    if apiserver_facts(release).advertise_endpoint_ip:
        for i, node in enumerate(spec.nodes):
            address = ip_key(node.ip)
            if "master" in node.roles and address is not None and (address.is_loopback or address.is_link_local):
                problems.append(Problem(f"nodes[{i}].ip", node.ip, f"an address kube-apiserver {release} can "
                                        "advertise: not loopback nor link-local (it refuses them as "
                                        "--advertise-address from 1.37, kubernetes#138102)"))
    return problems


def usable_address(bad: BadFn, path: str, value: str) -> IPAddress | None:
    """The address a node or VIP can hold, or None after reporting why `value` is not one.

    Other loopback addresses than 127.0.0.1 and ::1 stay allowed: one-machine test clusters give each node its own
    (127.0.9.1, ...), while every machine already holds those two, so as a VIP they could never move.
    """
    address = ip_key(value)
    if address is None:
        bad(path, value, "an IPv4 or IPv6 address (without a %zone)")
    elif isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        bad(path, value, f"the IPv4 address itself ({address.ipv4_mapped}), not its IPv4-mapped IPv6 form")
    elif address.is_unspecified or address.is_multicast or address.is_reserved or str(address) in LOCALHOST:
        bad(path, value, "an address one machine can hold (not 0.0.0.0, ::, 127.0.0.1, ::1, multicast, reserved "
            "or 255.255.255.255)")
    else:
        return address
    return None


def network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The network in CIDR form `value` spells, without a %zone (it would reach the units verbatim)."""
    if "%" in value:
        return None
    try:
        return ipaddress.ip_network(value)
    except ValueError:
        return None


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
        else:
            vip = usable_address(bad, "api_server.vip", api.vip)
            if vip is not None and vip in node_ips:
                bad("api_server.vip", api.vip, f"an address no node has; node {node_ips[vip]} already uses it")
        if api.external_address is not None:
            bad("api_server.external_address", api.external_address,
                "empty with load_balancer.kind haproxy-keepalived (the VIP is the endpoint)")
        if not INTERFACE.fullmatch(lb.interface):
            bad("load_balancer.interface", lb.interface,
                "a network interface name: at most 15 letters, digits and _.-, starting with a letter or digit")
        if not 1 <= lb.virtual_router_id <= 255:
            bad("load_balancer.virtual_router_id", lb.virtual_router_id, "an integer between 1 and 255")
        lowest = lb.priority - 10 * (masters - 1)
        if not (1 <= lowest and lb.priority <= 254):
            bad("load_balancer.priority", lb.priority,
                "between 1 and 254, and high enough that each further master can get 10 less")
    elif lb.kind == "external":
        if api.external_address is None:
            bad("api_server.external_address", None, "the load balancer's address (load_balancer.kind is external)")
        elif is_ip(api.external_address) or ":" in api.external_address or "%" in api.external_address:
            usable_address(bad, "api_server.external_address", api.external_address)
        else:
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


def check_certificates(spec: ClusterFile, bad: BadFn) -> None:
    certs = spec.certificates
    for name in ("C", "ST", "L", "OU"):
        value = getattr(certs.subject, name)
        if not value or not SAFE_WORD.fullmatch(value):
            bad(f"certificates.subject.{name}", value,
                "a non-empty name of at most 128 letters, digits, spaces and ._:@=/+-")
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
    if certs.layout not in ("", *LAYOUTS):
        bad("certificates.layout", certs.layout, "separate (etcd and the front proxy get CAs of their own, the "
            "default) or single (one CA for everything, as the seeds do)")


def check_components(spec: ClusterFile, bad: BadFn) -> None:
    comps = spec.components
    sched = comps.kube_scheduler
    check_control_plane_client(bad, "components.kube-scheduler", "kube-scheduler", sched.kubeconfig_server,
                               sched.verbosity, sched.leader_election, sched.client_connection)
    cm = comps.kube_controller_manager
    where = "components.kube-controller-manager"
    check_control_plane_client(bad, where, "kube-controller-manager", cm.kubeconfig_server, cm.verbosity,
                               cm.leader_election, cm.client_connection)
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
    if etcd.bin_dir:
        check_node_path(bad, "components.etcd.bin_dir", etcd.bin_dir, SHARED_OK["bin_dir"])
    release = ETCD_RELEASE.fullmatch(etcd.version)
    if etcd.version and (not release or (int(release[1]), int(release[2])) < (3, 2)):
        bad("components.etcd.version", etcd.version, 'an etcd release 3.2.0 or later, such as "3.6.8" (or none: '
            "the one kubernetes_version is paired with)")
    for name in ("server_tarball", "etcd_tarball", "kube_bench_tarball", "kwok_binary"):
        check_workstation_path(bad, f"prerequisites.{name}", getattr(spec.prerequisites, name), "download it")
    # a workstation file too, and quoted on the kube-apiserver page
    check_workstation_path(bad, f"{where}.audit.policy_file", apiserver.audit.policy_file, "the runbook's policy")


def check_workstation_path(bad: BadFn, path: str, value: str, empty: str) -> None:
    """A file on the workstation the cluster file names (relative to the repository root or absolute), or empty."""
    if value and (not WORKSTATION_PATH.fullmatch(value) or {"", ".", ".."} & set(value.split("/")[1:])):
        bad(path, value, f"empty ({empty}) or a normalised file path of letters, digits and ._/+- (no '..', no "
            "spaces, no shell syntax)")


def check_control_plane_client(bad: BadFn, where: str, component: str, kubeconfig_server: str, verbosity: int,
                               election: LeaderElection, client: ClientConnection) -> None:
    """Settings kube-scheduler and kube-controller-manager share: API server choice, log level, leader election,
    client-side rate limits."""
    if not 1 <= client.qps <= MAX_QPS:
        bad(f"{where}.client_connection.qps", client.qps, f"requests per second from 1 to {MAX_QPS}")
    if not client.qps <= client.burst <= MAX_BURST:
        bad(f"{where}.client_connection.burst", client.burst,
            f"at least qps ({client.qps}: a smaller burst caps the rate below it) and at most {MAX_BURST}")
    if kubeconfig_server not in ("vip", "local"):
        bad(f"{where}.kubeconfig_server", kubeconfig_server,
            "vip (through the load balancer) or local (this master's own kube-apiserver)")
    if not 0 <= verbosity <= 10:
        bad(f"{where}.verbosity", verbosity, "a log level between 0 and 10")
    low, high = DURATION_SECONDS
    seconds: dict[str, int] = {}
    for name in ("lease_duration", "renew_deadline", "retry_period"):
        value = getattr(election, name)
        match = DURATION.fullmatch(value)
        if not match or not low <= int(match[1]) <= high:
            bad(f"{where}.leader_election.{name}", value, f'whole seconds from "{low}s" to "{high}s", e.g. "15s"')
        else:
            seconds[name] = int(match[1])
    if len(seconds) < 3:
        return
    if not seconds["lease_duration"] > seconds["renew_deadline"]:
        bad(f"{where}.leader_election.renew_deadline", election.renew_deadline,
            f"shorter than lease_duration ({component} refuses leaseDuration <= renewDeadline)")
    elif not seconds["renew_deadline"] > JITTER_FACTOR * seconds["retry_period"]:
        bad(f"{where}.leader_election.retry_period", election.retry_period,
            f"short enough that 1.2 × retry_period < renew_deadline ({component} refuses it otherwise)")


def check_verification(spec: ClusterFile, bad: BadFn) -> None:
    verification = spec.verification
    # in a download URL, a path and a command of the verification chapter
    if not TOOL_RELEASE.fullmatch(verification.kube_bench):
        bad("verification.kube_bench", verification.kube_bench, 'a kube-bench release such as "0.15.6"')
    if not TOOL_RELEASE.fullmatch(verification.kwok):
        bad("verification.kwok", verification.kwok, 'a kwok release such as "0.8.0"')
    rehearsal = verification.scheduler_rehearsal
    if rehearsal is None:
        return
    where = "verification.scheduler_rehearsal"
    if not 1 <= rehearsal.nodes <= MAX_FAKE_NODES:
        bad(f"{where}.nodes", rehearsal.nodes, f"simulated nodes from 1 to {MAX_FAKE_NODES}")
    elif not 1 <= rehearsal.pods <= (most := min(MAX_REHEARSAL_PODS, PODS_PER_FAKE_NODE * rehearsal.nodes)):
        bad(f"{where}.pods", rehearsal.pods,
            f"pods from 1 to {most} ({PODS_PER_FAKE_NODE} per simulated node, as a kubelet takes by default)")
    masters = [n for n in spec.nodes if "master" in n.roles]
    if rehearsal.failover and len(masters) < 2:
        bad(f"{where}.failover", rehearsal.failover, "false with one master: a failover needs another scheduler")
