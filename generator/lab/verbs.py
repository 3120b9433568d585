"""lab-up, lab-down and lab-status."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from generator.lab.checks import preflight
from generator.lab.cleanup import remove, unmount_leftovers
from generator.lab.layout import Lab, LabError, lab, option
from generator.lab.network import ensure_bridge, ensure_node_network
from generator.lab.nodes import node_running, standin_sources, start_node, wait_started
from generator.lab.ssh import ensure_client_key, without_lab_lines, write_known_hosts
from generator.lab.state import load_state, remember, save_state
from generator.lab.system import alive, link_exists, netns_exists, sh, stop_pid, wait_gone, write_file
from generator.lab.tarballs import etcd_tarball, server_tarball
from generator.model import REPO, Cluster
from generator.steps import ssh_prefix


def up(cluster: Cluster, kube_bin_dir: str | None = None, say: Callable[[str], None] = print) -> Lab:
    """Create (or complete) the lab; running it again leaves a healthy lab as it is."""
    the_lab = lab(cluster)
    preflight(the_lab)
    state = load_state(the_lab)
    state.update({"cluster": cluster.name, "bridge": the_lab.bridge, "bridge_address": the_lab.bridge_address})
    the_lab.dir.mkdir(parents=True, exist_ok=True)
    save_state(the_lab, state)
    ensure_client_key(the_lab, state)
    standins = standin_sources()
    etcd_tarball(the_lab, state, say)
    server_tarball(the_lab, kube_bin_dir, state, say)
    save_state(the_lab, state)
    ensure_bridge(the_lab)
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for lab_node in the_lab.nodes:
            ensure_node_network(the_lab, lab_node)
            if node_running(state, lab_node):
                continue
            remember(state, lab_node.root)
            started[lab_node.name] = start_node(the_lab, lab_node, standins, state)
        write_known_hosts(the_lab, state)
        wait_started(the_lab, started, state)
    finally:
        save_state(the_lab, state)
    for lab_node in the_lab.nodes:
        entry = state["nodes"][lab_node.name]
        how = "started" if lab_node.name in started else "already running"
        say(f"  {lab_node.name:16} {lab_node.node.ip:15} netns {lab_node.netns}  sshd pid {entry['init_pid']} ({how})")
    say(f"lab {cluster.name} is up: bridge {the_lab.bridge} {the_lab.bridge_address}, "
        f"{len(the_lab.nodes)} node(s); state in {the_lab.state_file.relative_to(REPO)}")
    return the_lab


def down(cluster: Cluster, say: Callable[[str], None] = print) -> None:
    """Stop what lab-up started (by recorded PID) and remove what it made."""
    the_lab = lab(cluster)
    if os.geteuid() != 0:
        raise LabError("the lab needs root: run `sudo invoke lab-down ...`")
    state = load_state(the_lab)
    control_path = option(cluster, "ControlPath")
    if control_path:
        for lab_node in the_lab.nodes:
            # Ask this workstation's multiplexing ssh (if any) to close its connection to the node.
            subprocess.run(f"{ssh_prefix(cluster, lab_node.node)} -O exit", shell=True, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=False)
    recorded = state.get("nodes", {})
    signalled = []
    for entry in recorded.values():
        for kind in ("init", "unshare"):
            pid, started = entry.get(f"{kind}_pid"), entry.get(f"{kind}_start")
            if stop_pid(pid, started):
                signalled.append((pid, started))
    # PID 1 of a node's namespace ends -> the kernel ends every process of that node.
    if not wait_gone(lambda: any(alive(p, s) for p, s in signalled), 5):
        for pid, started in signalled:
            stop_pid(pid, started, signal.SIGKILL)
        wait_gone(lambda: any(alive(p, s) for p, s in signalled), 5)
    links = node_links(the_lab, recorded)
    for netns, _ in links:
        if netns_exists(netns):
            left = sh(["ip", "netns", "pids", netns], check=False).stdout.split()
            if left:
                say(f"  warning: processes lab-up did not record still use {netns}: {' '.join(left)} (left running)")
            sh(["ip", "netns", "del", netns])
    for _, veth in links:
        if link_exists(veth):
            sh(["ip", "link", "del", veth], check=False)
    veths_gone = wait_gone(lambda: any(link_exists(veth) for _, veth in links), 10)
    if link_exists(the_lab.bridge):
        sh(["ip", "link", "del", the_lab.bridge])
    unmount_leftovers(the_lab)
    if the_lab.known_hosts is not None and the_lab.known_hosts.exists():
        kept = without_lab_lines(the_lab, the_lab.known_hosts.read_text())
        write_file(the_lab.known_hosts, "\n".join(kept) + "\n" if kept else "", 0o644)
    for made in sorted(state.get("made", []), key=len, reverse=True):
        remove(the_lab, Path(made))
    for path in (the_lab.nodes_base, the_lab.state_file):
        remove(the_lab, path)
    if the_lab.nodes_base.parent != the_lab.dir:  # /var/tmp/runbook-lab/<cluster>: remove when empty
        for directory in (the_lab.nodes_base.parent, the_lab.nodes_base.parent.parent):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
    if the_lab.dir.is_dir() and not any(the_lab.dir.iterdir()):
        the_lab.dir.rmdir()
    if not veths_gone:
        say("  warning: some veth links were still present after 10 s")
    say(f"lab {cluster.name} is down: {len(signalled)} process(es) stopped, "
        f"{len(links)} namespace(s), their links and bridge {the_lab.bridge} removed")


def node_links(the_lab: Lab, recorded: dict) -> list[tuple[str, str]]:
    """(namespace, host-side veth) of every node of the cluster file, and of every node lab-up started that the
    file no longer lists (a master that has left the cluster)."""
    links = [(n.netns, n.host_veth) for n in the_lab.nodes]
    names = {n.name for n in the_lab.nodes}
    return links + [(entry["netns"], entry["host_veth"]) for name, entry in recorded.items()
                    if name not in names and "netns" in entry and "host_veth" in entry]


def status(cluster: Cluster) -> list[dict[str, object]]:
    """Per node: namespace present, sshd alive, ssh reachable (`hostname` answers the node's name)."""
    the_lab = lab(cluster)
    state = load_state(the_lab)
    rows = []
    for lab_node in the_lab.nodes:
        entry = state.get("nodes", {}).get(lab_node.name, {})
        row: dict[str, object] = {
            "node": lab_node.name, "ip": lab_node.node.ip, "netns": netns_exists(lab_node.netns),
            "sshd_pid": entry.get("init_pid"), "sshd_alive": node_running(state, lab_node),
            "ssh": False, "ssh_seconds": None, "ssh_said": "",
        }
        if row["netns"] and row["sshd_alive"]:
            start = time.monotonic()
            proc = subprocess.run(f"{ssh_prefix(cluster, lab_node.node)} hostname", shell=True, cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20,
                                  stdin=subprocess.DEVNULL, check=False)
            row["ssh_seconds"] = round(time.monotonic() - start, 3)
            row["ssh_said"] = proc.stdout.strip()
            row["ssh"] = proc.returncode == 0 and proc.stdout.strip() == lab_node.name
        rows.append(row)
    return rows


def status_lines(cluster: Cluster) -> tuple[list[str], bool]:
    the_lab = lab(cluster)
    rows = status(cluster)
    bridge = "up" if link_exists(the_lab.bridge) else "absent"
    lines = [f"lab {cluster.name}: bridge {the_lab.bridge} ({the_lab.bridge_address}) {bridge}"]
    healthy = bridge == "up"
    for row in rows:
        ssh = (f"ssh ok ({row['ssh_seconds']} s)" if row["ssh"]
               else f"ssh FAILED: {row['ssh_said'][:120]!r}" if row["ssh_seconds"] is not None else "ssh not tried")
        lines.append(f"  {row['node']:16} {row['ip']:15} netns {'yes' if row['netns'] else 'NO':3}  "
                     f"sshd {'pid ' + str(row['sshd_pid']) + ' alive' if row['sshd_alive'] else 'NOT running'}  "
                     f"{ssh}")
        healthy &= bool(row["ssh"])
    return lines, healthy
