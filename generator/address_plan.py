"""The cluster's addresses as one plan: the nodes, the VIP, the service and the pod network, checked the way
kube-apiserver and kube-controller-manager check them when they start (so a file that passes here does not stop
them there), and against each other (a service or pod network that holds a node or the VIP steals its traffic).

The limits are the components' facts (generator/components/*/facts.py), with the messages the binaries print.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from generator.checks import BadFn, IPAddress, check_dns_name, ip_key, network
from generator.schema import Problem
from generator.versions import Release, parse_release

if TYPE_CHECKING:
    from generator.model import ClusterFile

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PODS = "components.kube-controller-manager.cluster_cidr"


def check(spec: ClusterFile) -> list[Problem]:
    problems: list[Problem] = []

    def bad(path: str, value: object, expected: str) -> None:
        problems.append(Problem(path, value, expected))

    check_plan(spec, bad)
    return problems


def check_plan(spec: ClusterFile, bad: BadFn) -> None:
    # imported here: the components import the model, which imports this module
    from generator.components.kube_apiserver import facts as apiserver
    from generator.components.kube_controller_manager import facts as controller_manager

    family = nodes_family(spec, bad)
    release = parse_release(spec.kubernetes_version)
    services = network(spec.network.service_cidr)
    if services is None:
        bad("network.service_cidr", spec.network.service_cidr, "a network in CIDR form, e.g. 10.254.0.0/16")
    elif family is not None and services.version != family:
        bad("network.service_cidr", spec.network.service_cidr, f"an IPv{family} network, as the nodes' addresses "
            "are (kube-apiserver: service IP family must match public address family)")
    elif services.num_addresses < apiserver.SERVICE_CIDR_MIN_ADDRESSES:
        bad("network.service_cidr", spec.network.service_cidr, "a network of at least 8 addresses (kube-apiserver: "
            "the service cluster IP range must be at least 8 IP addresses)")
    else:
        host_bits = apiserver.SERVICE_CIDR_MAX_HOST_BITS.at(release) if isinstance(release, Release) else None
        if host_bits is not None and services.max_prefixlen - services.prefixlen > host_bits:
            bits = services.max_prefixlen
            bad("network.service_cidr", spec.network.service_cidr, f"/{bits - host_bits} or longer (kube-apiserver "
                f"before 1.34: specified --service-cluster-ip-range is too large; for {bits}-bit addresses, the mask "
                f"must be >= {bits - host_bits})")
    check_dns_name(bad, "network.cluster_domain", spec.network.cluster_domain)
    value = spec.components.kube_controller_manager.cluster_cidr
    pods = network(value)
    if pods is None:
        bad(PODS, value, "a network in CIDR form, e.g. 172.30.0.0/16")
    elif family is not None and pods.version != family:
        bad(PODS, value, f"an IPv{family} network, as the nodes' addresses are (their pods share their family)")
    else:
        node_mask = controller_manager.NODE_CIDR_MASK[pods.version]
        if pods.prefixlen > node_mask:
            bad(PODS, value, f"/{node_mask} or shorter: each node gets a /{node_mask} of it (kube-controller-manager: "
                "mask size of cluster CIDR must be less than or equal to --node-cidr-mask-size)")
        elif pods.version == 6 and node_mask - pods.prefixlen > controller_manager.CLUSTER_SUBNET_MAX_DIFF:
            bad(PODS, value, f"/{node_mask - controller_manager.CLUSTER_SUBNET_MAX_DIFF} or longer: each node gets "
                f"a /{node_mask}, at most 2^16 of them (kube-controller-manager: the node CIDR size is too big)")
        elif services is not None and pods.version == services.version and pods.overlaps(services):
            bad(PODS, value, f"a pod network apart from network.service_cidr ({spec.network.service_cidr})")
    for path, net, text in (("network.service_cidr", services, spec.network.service_cidr), (PODS, pods, value)):
        if net is not None:
            check_holds_no_host(spec, bad, path, net, text)


def hosts(spec: ClusterFile) -> list[tuple[str, IPAddress]]:
    """Every address a machine of the cluster holds: the nodes, the VIP, a leaving node (it still runs)."""
    found = [(f"nodes[{i}]", ip_key(n.ip)) for i, n in enumerate(spec.nodes)]
    found += [(f"membership.leaving[{i}]", ip_key(n.ip)) for i, n in enumerate(spec.membership.leaving)]
    if spec.api_server.vip:
        found.append(("the VIP (api_server.vip)", ip_key(spec.api_server.vip)))
    return [(name, address) for name, address in found if address is not None]


def check_holds_no_host(spec: ClusterFile, bad: BadFn, path: str, net: Network, text: str) -> None:
    held = [f"{name} ({address})" for name, address in hosts(spec) if address.version == net.version and address in net]
    if held:
        more = f" and {len(held) - 3} more" if len(held) > 3 else ""
        bad(path, text, f"a network apart from the machines' addresses; it holds {', '.join(held[:3])}{more}")


def nodes_family(spec: ClusterFile, bad: BadFn) -> int | None:
    """The IP version of the nodes' addresses (nodes[0]'s), each other node and the VIP reported if of another."""
    addresses = [(f"nodes[{i}].ip", n.ip, ip_key(n.ip)) for i, n in enumerate(spec.nodes)]
    if spec.api_server.vip:
        addresses.append(("api_server.vip", spec.api_server.vip, ip_key(spec.api_server.vip)))
    # an IPv4-mapped IPv6 address is reported as such by checks.usable_address
    addresses = [(path, text, address) for path, text, address in addresses if address is not None and not (
        isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped)]
    family = next((address.version for _, _, address in addresses), None)
    for path, text, address in addresses:
        if address.version != family:
            bad(path, text, f"an IPv{family} address like nodes[0].ip: a control plane speaks one address family")
    return family
