"""The lab bridge, each node's namespace and veth pair."""

from __future__ import annotations

import subprocess

from generator.lab.layout import PREFIX_LEN, Lab, LabNode
from generator.lab.system import link_exists, netns_exists, sh, sysctl_off_ipv6


def ensure_bridge(the_lab: Lab) -> None:
    if not link_exists(the_lab.bridge):
        sh(["ip", "link", "add", the_lab.bridge, "type", "bridge"])
    sysctl_off_ipv6(the_lab.bridge)
    addrs = sh(["ip", "-o", "-4", "addr", "show", "dev", the_lab.bridge]).stdout
    if the_lab.bridge_address not in addrs.split():
        sh(["ip", "addr", "add", the_lab.bridge_address, "dev", the_lab.bridge])
    sh(["ip", "link", "set", the_lab.bridge, "up"])


def in_ns(lab_node: LabNode, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(["ip", "netns", "exec", lab_node.netns, *args], check=check)


def ensure_node_network(the_lab: Lab, lab_node: LabNode) -> None:
    if not netns_exists(lab_node.netns):
        sh(["ip", "netns", "add", lab_node.netns])
    # Links created from now on in the namespace get no IPv6 (lo keeps ::1).
    in_ns(lab_node, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6", check=False)
    in_ns(lab_node, "ip", "link", "set", "lo", "up")
    inner = in_ns(lab_node, "ip", "-o", "link", "show", "dev", the_lab.interface, check=False).returncode == 0
    if not link_exists(lab_node.host_veth) or not inner:
        if link_exists(lab_node.host_veth):
            sh(["ip", "link", "del", lab_node.host_veth])
        if inner:
            in_ns(lab_node, "ip", "link", "del", the_lab.interface)
        sh(["ip", "link", "add", lab_node.host_veth, "type", "veth", "peer", "name", the_lab.interface,
            "netns", lab_node.netns])
    sysctl_off_ipv6(lab_node.host_veth)
    sh(["ip", "link", "set", lab_node.host_veth, "master", the_lab.bridge, "up"])
    address = f"{lab_node.node.ip}/{PREFIX_LEN}"
    if address not in in_ns(lab_node, "ip", "-o", "-4", "addr", "show", "dev", the_lab.interface).stdout.split():
        in_ns(lab_node, "ip", "addr", "add", address, "dev", the_lab.interface)
    in_ns(lab_node, "ip", "link", "set", the_lab.interface, "up")
