"""lab-up, lab-down and lab-status."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from generator.lab.checks import preflight
from generator.lab.cleanup import forget_container, kill_tree, remove, unmount_leftovers
from generator.lab.layout import Lab, LabError, lab, option
from generator.lab.network import ensure_bridge, ensure_node_network
from generator.lab.nodes import container_init, node_running, start_node, wait_booted
from generator.lab.ssh import ensure_client_key, without_lab_lines, write_known_hosts
from generator.lab.state import load_state, remember, save_state
from generator.lab.system import alive, link_exists, netns_exists, sh, stop_pid, wait_gone, write_file
from generator.lab.tarballs import etcd_tarball, kube_bench_tarball, kwok_binary, server_tarball
from generator.model import REPO, Cluster
from generator.steps import ssh_prefix

# Halting a node stops its units first (kube-apiserver waits out its shutdown delay): allow that, then kill.
SHUTDOWN_TIMEOUT = 45.0


def up(cluster: Cluster, kube_bin_dir: str | None = None, say: Callable[[str], None] = print) -> Lab:
    """Create (or complete) the lab; running it again leaves a healthy lab as it is."""
    the_lab = lab(cluster)
    preflight(the_lab)
    state = load_state(the_lab)
    state.update({"cluster": cluster.name, "bridge": the_lab.bridge, "bridge_address": the_lab.bridge_address})
    the_lab.dir.mkdir(parents=True, exist_ok=True)
    save_state(the_lab, state)
    ensure_client_key(the_lab, state)
    etcd_tarball(the_lab, state, say)
    kube_bench_tarball(the_lab, state, say)
    kwok_binary(the_lab, state, say)
    server_tarball(the_lab, kube_bin_dir, state, say)
    save_state(the_lab, state)
    ensure_bridge(the_lab)
    refuse_a_foreign_lab(the_lab, state)
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for lab_node in the_lab.nodes:
            ensure_node_network(the_lab, lab_node)
            if node_running(state, lab_node):
                continue
            remember(state, lab_node.root)
            started[lab_node.name] = start_node(the_lab, lab_node, state)
        write_known_hosts(the_lab, state)
        wait_booted(the_lab, started)
    finally:
        save_state(the_lab, state)
    for lab_node in the_lab.nodes:
        init = container_init(state["nodes"][lab_node.name]["supervisor_pid"])
        how = "booted" if lab_node.name in started else "already running"
        say(f"  {lab_node.name:16} {lab_node.node.ip:15} netns {lab_node.netns}  systemd pid {init} ({how})")
    say(f"lab {cluster.name} is up: bridge {the_lab.bridge} {the_lab.bridge_address}, "
        f"{len(the_lab.nodes)} node(s); state in {the_lab.state_file.relative_to(REPO)}")
    return the_lab


def refuse_a_foreign_lab(the_lab: Lab, state: dict) -> None:
    """A node's namespace that processes use although this lab's record does not know it: another lab of the same
    cluster name (another checkout, a copy) runs there. Sharing it would put two nodes on one address."""
    for lab_node in the_lab.nodes:
        if node_running(state, lab_node) or not netns_exists(lab_node.netns):
            continue
        used = sh(["ip", "netns", "pids", lab_node.netns], check=False).stdout.split()
        if used:
            raise LabError(f"namespace {lab_node.netns} is in use by processes this lab did not start ({len(used)}, "
                           f"e.g. pid {used[0]}): another lab named {the_lab.cluster.name} runs on this machine; "
                           "take that one down first")


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
    supervisors = [(e.get("supervisor_pid"), e.get("supervisor_start")) for e in recorded.values()]
    # A clean shutdown of every node at once: each container's systemd stops its units, then halts.
    signalled = [(pid, started) for pid, started in supervisors if stop_pid(pid, started)]
    if not wait_gone(lambda: any(alive(p, s) for p, s in signalled), SHUTDOWN_TIMEOUT):
        say(f"  warning: a node did not halt within {SHUTDOWN_TIMEOUT:.0f} s: killing what runs in it")
        for pid, started in signalled:
            if alive(pid, started):
                kill_tree(pid)
        wait_gone(lambda: any(alive(p, s) for p, s in signalled), 10)
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
    for entry in recorded.values():
        forget_container(entry.get("machine", ""))
    if the_lab.known_hosts is not None and the_lab.known_hosts.exists():
        kept = without_lab_lines(the_lab, the_lab.known_hosts.read_text())
        write_file(the_lab.known_hosts, "\n".join(kept) + "\n" if kept else "", 0o644)
    for made in sorted(state.get("made", []), key=len, reverse=True):
        remove(the_lab, Path(made))
    for path in (the_lab.nodes_base, the_lab.state_file):
        remove(the_lab, path)
    if the_lab.dir.is_dir() and not any(the_lab.dir.iterdir()):
        the_lab.dir.rmdir()
    if not veths_gone:
        say("  warning: some veth links were still present after 10 s")
    say(f"lab {cluster.name} is down: {len(signalled)} node(s) shut down, "
        f"{len(links)} namespace(s), their links and bridge {the_lab.bridge} removed")


def wipe_node(cluster: Cluster, name: str, say: Callable[[str], None] = print) -> float:
    """A node's disk lost: the node shuts down, its root file system is deleted, and it boots again as a freshly
    installed host (a new machine-id and host key, which known_hosts then pins). Seconds it took."""
    started = time.monotonic()
    the_lab = lab(cluster)
    lab_node = next((n for n in the_lab.nodes if n.name == name), None)
    if lab_node is None:
        raise LabError(f"no node {name} in lab {cluster.name}: {', '.join(n.name for n in the_lab.nodes)}")
    state = load_state(the_lab)
    entry = state.get("nodes", {}).get(name, {})
    pid, began = entry.get("supervisor_pid"), entry.get("supervisor_start")
    if stop_pid(pid, began) and not wait_gone(lambda: alive(pid, began), SHUTDOWN_TIMEOUT):
        kill_tree(pid)
        wait_gone(lambda: alive(pid, began), 10)
    forget_container(entry.get("machine", ""))
    remove(the_lab, lab_node.root)
    started_node = start_node(the_lab, lab_node, state)
    try:
        write_known_hosts(the_lab, state)
        wait_booted(the_lab, {name: started_node})
    finally:
        save_state(the_lab, state)
    seconds = time.monotonic() - started
    say(f"  {name}: disk wiped, booted again as a fresh host in {seconds:.1f} s")
    return seconds


def node_links(the_lab: Lab, recorded: dict) -> list[tuple[str, str]]:
    """(namespace, host-side veth) of every node of the cluster file, and of every node lab-up started that the
    file no longer lists (a master that has left the cluster)."""
    links = [(n.netns, n.host_veth) for n in the_lab.nodes]
    names = {n.name for n in the_lab.nodes}
    return links + [(entry["netns"], entry["host_veth"]) for name, entry in recorded.items()
                    if name not in names and "netns" in entry and "host_veth" in entry]


def status(cluster: Cluster) -> list[dict[str, object]]:
    """Per node: namespace present, booted (its systemd-nspawn runs), ssh reachable (`hostname` answers the node's
    name) and the state of its systemd (`systemctl is-system-running`)."""
    the_lab = lab(cluster)
    state = load_state(the_lab)
    rows = []
    for lab_node in the_lab.nodes:
        entry = state.get("nodes", {}).get(lab_node.name, {})
        row: dict[str, object] = {
            "node": lab_node.name, "ip": lab_node.node.ip, "netns": netns_exists(lab_node.netns),
            "booted": node_running(state, lab_node), "init_pid": None, "ssh": False, "ssh_seconds": None,
            "ssh_said": "", "systemd": "",
        }
        if row["booted"]:
            row["init_pid"] = container_init(entry["supervisor_pid"])
        if row["netns"] and row["booted"]:
            start = time.monotonic()
            proc = subprocess.run(f"{ssh_prefix(cluster, lab_node.node)} 'hostname; systemctl is-system-running'",
                                  shell=True, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=20, stdin=subprocess.DEVNULL, check=False)
            row["ssh_seconds"] = round(time.monotonic() - start, 3)
            said = proc.stdout.strip().splitlines()
            row["ssh_said"] = proc.stdout.strip()
            row["ssh"] = bool(said) and said[0] == lab_node.name
            row["systemd"] = said[1] if row["ssh"] and len(said) > 1 else ""
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
        booted = f"systemd pid {row['init_pid']}" if row["booted"] else "NOT running"
        systemd = f"  system {row['systemd']}" if row["systemd"] else ""
        lines.append(f"  {row['node']:16} {row['ip']:15} netns {'yes' if row['netns'] else 'NO':3}  {booted}  "
                     f"{ssh}{systemd}")
        # `degraded` is a running system with a failed unit: reachable, so the lab is up; the line says it
        healthy &= bool(row["ssh"])
    return lines, healthy
