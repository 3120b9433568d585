"""The lab: a whole cluster on this one Linux machine, so the runbook runs unchanged against it (root only).

Each node of the cluster file becomes
- a network namespace `<cluster>-<node>` holding the node's IP on an interface named
  `load_balancer.interface`, joined by a veth pair to a lab bridge that carries the workstation-side
  address (the first free address of the nodes' /24). No forwarding, no NAT, no default route: the
  nodes reach each other and the workstation, nothing else;
- a container booted by systemd-nspawn in that namespace, whose PID 1 is real systemd: its own root file
  system (an overlay of this machine's `/` whose writable layer, build/<cluster>/nodes-root/<node>/upper/,
  is the node's disk — inspect it from the workstation), hostname, machine-id, journald, and sshd as an
  ordinary enabled service with the node's own host key. Units run exactly as the runbook renders them:
  `Type=notify`, `Restart=`, ordering, `WantedBy=`; `systemctl reboot` in a node reboots it.

Everything lab-up starts or makes is recorded in build/<cluster>/lab-state.json; lab-down stops
exactly those processes (by PID, checked against their start time) and removes what was made.
"""

from generator.lab.cleanup import lab_mounts
from generator.lab.layout import Lab, LabError, LabNode, lab, upper_path
from generator.lab.state import load_state
from generator.lab.system import alive, start_time
from generator.lab.tarballs import server_tarball
from generator.lab.verbs import down, status, status_lines, up, wipe_node

__all__ = [
    "Lab", "LabError", "LabNode", "alive", "down", "lab", "lab_mounts", "load_state", "server_tarball",
    "start_time", "status", "status_lines", "up", "upper_path", "wipe_node",
]
