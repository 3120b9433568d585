"""The lab: a whole cluster on this one Linux machine, so the runbook runs unchanged against it (root only).

Each node of the cluster file becomes
- a network namespace `<cluster>-<node>` holding the node's IP on an interface named
  `load_balancer.interface`, joined by a veth pair to a lab bridge that carries the workstation-side
  address (the first free address of the nodes' /24). No forwarding, no NAT, no default route: the
  nodes reach each other and the workstation, nothing else;
- a PID, UTS and mount namespace (`unshare`) whose PID 1 is the node's own sshd (own host key, the
  lab key authorised, listening on the node's IP only), so `ps`/`killall` see only that node;
- private filesystems: overlays on /etc, /opt, /usr/local and /var/lib whose writable layers live
  under build/<cluster>/nodes-root/<node>/upper/ (inspect them from the workstation), bind mounts of
  nodes-root/<node>/root and /var/log, and fresh tmpfs on /run, /tmp and /dev/shm (the systemctl
  stand-in keeps its state in /run, pid files live there: shared, nodes would collide). The node's
  sshd_config, host key and root's authorized_keys are the node's own files in those layers;
- `systemctl`/`journalctl` replaced, inside the node only, by the standalone scripts of
  docker-systemctl-replacement (a stand-in for systemd, which is not PID 1 on these machines).

Everything lab-up starts or makes is recorded in build/<cluster>/lab-state.json; lab-down stops
exactly those processes (by PID, checked against their start time) and removes what was made.
"""

from generator.lab.cleanup import lab_mounts
from generator.lab.layout import Lab, LabError, LabNode, lab, upper_path
from generator.lab.state import load_state
from generator.lab.system import alive, start_time
from generator.lab.tarballs import server_tarball
from generator.lab.verbs import down, status, status_lines, up

__all__ = [
    "Lab", "LabError", "LabNode", "alive", "down", "lab", "lab_mounts", "load_state", "server_tarball",
    "start_time", "status", "status_lines", "up", "upper_path",
]
