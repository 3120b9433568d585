"""The troubleshooting chapter for real, on the shared lab (after the recovery drills, before the teardown): a master
broken each of five ways the seeds and users meet — a kubeconfig whose key is a certificate, a comment left in a
unit, a kubeconfig trusting the wrong CA, a removed flag, a port another program holds — then the page's own
diagnostic commands must print the message the page quotes, and the page's own repair commands must bring the
service back.
"""

from __future__ import annotations

import base64
import shlex
import subprocess
import time

import pytest

from generator.components.kube_scheduler.files import Paths as SchedulerPaths
from generator.components.troubleshooting.chapter import ERRORS
from generator.model import REPO, Cluster
from tests.lab_support import BUILD, FIGURES, Deployed, kubectl, needs_root, remote

pytestmark = needs_root

WAIT = 90  # seconds systemd may take to show the failure (RestartSec=5 between attempts) or the repair to hold


def error(error_id: str):  # noqa: ANN201 - the chapter's Error type
    return next(e for e in ERRORS if e.id == error_id)


def run_local(command: str) -> subprocess.CompletedProcess[str]:
    """A command as the page shows it, run from the repository root like every runbook command."""
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=REPO, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def replace_in(cluster: Cluster, node, path: str, old: str, new: str) -> None:
    """Edit a file on the node by hand (a Python one-liner: the strings hold sed's specials)."""
    script = (f"import sys; p={path!r}; s=open(p).read(); assert {old!r} in s; "
              f"open(p, 'w').write(s.replace({old!r}, {new!r}, 1))")
    edited = remote(cluster, node, f"python3 -c {shlex.quote(script)}")
    assert edited.returncode == 0, edited.stderr


def kubeconfig_field(cluster: Cluster, node, field: str) -> str:
    path = f"{cluster.spec.paths.config_dir}/kube-scheduler.kubeconfig"
    text = remote(cluster, node, f"cat {path}").stdout
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.strip().startswith(field + ":"))


def break_key_is_certificate(cluster: Cluster, node) -> str:
    path = f"{cluster.spec.paths.config_dir}/kube-scheduler.kubeconfig"
    replace_in(cluster, node, path, kubeconfig_field(cluster, node, "client-key-data"),
               kubeconfig_field(cluster, node, "client-certificate-data"))
    return "kube-scheduler"


def break_unknown_authority(cluster: Cluster, node) -> str:
    path = f"{cluster.spec.paths.config_dir}/kube-scheduler.kubeconfig"
    etcd_ca = base64.b64encode((BUILD / "pki" / "etcd-ca.pem").read_bytes()).decode()
    replace_in(cluster, node, path, kubeconfig_field(cluster, node, "certificate-authority-data"), etcd_ca)
    return "kube-scheduler"


def break_inline_comment(cluster: Cluster, node) -> str:
    """A comment after a flag, as the seeds' commands carry them."""
    config = SchedulerPaths(cluster).config
    path = f"{cluster.spec.paths.systemd_dir}/kube-scheduler.service"
    replace_in(cluster, node, path, f"--config={config} \\", f"--config={config} # leader \\")
    return "kube-scheduler"


def break_unknown_flag(cluster: Cluster, node) -> str:
    path = f"{cluster.spec.paths.systemd_dir}/kube-apiserver.service"
    replace_in(cluster, node, path, "--secure-port=", "--insecure-port=0 \\\n  --secure-port=")
    return "kube-apiserver"


def break_port_in_use(cluster: Cluster, node) -> str:
    taken = remote(cluster, node, "systemctl stop kube-scheduler && systemd-run --unit=port-squatter "
                                  "python3 -m http.server --bind 127.0.0.1 10259")
    assert taken.returncode == 0, taken.stderr
    return "kube-scheduler"


# A client with the wrong CA keeps retrying: its unit stays active and the journal is the symptom.
STAYS_ACTIVE = {"unknown-authority"}
CASES = {
    "key-is-certificate": break_key_is_certificate,
    "inline-comment": break_inline_comment,
    "unknown-authority": break_unknown_authority,
    "unknown-flag": break_unknown_flag,
    "port-in-use": break_port_in_use,
}


@pytest.mark.parametrize("error_id", list(CASES))
def test_the_page_diagnoses_and_repairs_a_broken_master(deployed: Deployed, error_id: str) -> None:
    cluster = deployed.cluster
    node = cluster.masters[0]
    entry = error(error_id)
    unit = CASES[error_id](cluster, node)
    restarted = remote(cluster, node, f"systemctl daemon-reload && systemctl restart {unit}; true")
    assert restarted.returncode == 0, restarted.stderr
    # The page's diagnostics, as shown, until the journal holds the failure (systemd keeps restarting the unit).
    quoted = entry.message
    end = time.monotonic() + WAIT
    while True:
        said = "\n".join(run_local(c).stdout for c in entry.confirm(cluster) if not c.startswith("invoke lint"))
        if quoted in said or time.monotonic() > end:
            break
        time.sleep(3)
    assert quoted in said, f"the page's diagnostics did not show {quoted!r}:\n{said[-3000:]}"
    if error_id not in STAYS_ACTIVE:
        assert remote(cluster, node, f"systemctl is-active {unit}").stdout.strip() != "active"
    started, since = time.monotonic(), int(time.time())
    for command in entry.repair(cluster):
        repaired = run_local(command)
        assert repaired.returncode == 0, f"{command}\n{repaired.stdout}{repaired.stderr}"
    end = time.monotonic() + WAIT
    while remote(cluster, node, f"systemctl is-active {unit}").stdout.strip() != "active" and time.monotonic() < end:
        time.sleep(1)
    assert remote(cluster, node, f"systemctl is-active {unit}").stdout.strip() == "active"
    FIGURES[f"repaired {error_id} (s)"] = time.monotonic() - started
    if error_id in STAYS_ACTIVE:  # repaired means the journal stops saying it
        time.sleep(15)
        journal = remote(cluster, node, f"journalctl -u {unit} --since @{since} --no-pager").stdout
        assert quoted not in journal.rsplit("Started", 1)[-1], journal[-3000:]  # since its last start
    assert kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
    remote(cluster, node, "systemctl stop port-squatter 2>/dev/null; true")
