"""kube-apiserver's audit log: who did what, when, from where — never what a Secret holds.

The runbook's policy (below) records every request's metadata, the body of every change except to Secrets,
ConfigMaps and tokens, and nothing for health probes, events and the control plane's own lease renewals (thousands
an hour, nobody's action). A cluster file may name its own Policy file instead (`components.kube-apiserver.audit.
policy_file`), read on the workstation within limits and checked to be an audit Policy. The log is a file on each
master (`paths.log_dir`, 0600 in a 0700 directory), rotated by size, kept by age and count.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from generator import yaml_text
from generator.artifacts import Artifact, on_node
from generator.errors import RunbookError
from generator.model import REPO, Cluster
from generator.steps import Show, Step, for_each_master, on, sudo
from generator.text import Texts

TEXT = Texts.of_module(__file__)

POLICY_LIMIT = 256 * 1024  # bytes of a policy file of the cluster file's
ID = "kube-apiserver"
SECRET_RESOURCES = [{"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
                    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]}]
# First match wins: the order is the policy.
DEFAULT_POLICY: dict = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
        {"level": "None", "users": ["system:kube-scheduler", "system:kube-controller-manager"],
         "verbs": ["get", "update"], "namespaces": ["kube-system"],
         "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "None", "resources": [{"group": "", "resources": ["events"]},
                                        {"group": "events.k8s.io", "resources": ["events"]}]},
        {"level": "Metadata", "resources": SECRET_RESOURCES},
        {"level": "Request", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "Metadata"},
    ],
}


class AuditPolicyError(RunbookError):
    """A cluster file's audit policy that cannot be used; the message names the file and what is wrong."""


class Paths:
    def __init__(self, cluster: Cluster) -> None:
        p = cluster.spec.paths
        self.policy = f"{p.config_dir}/audit-policy.yaml"
        self.log = f"{p.log_dir}/kube-apiserver-audit.log"


def policy_text(cluster: Cluster) -> bytes:
    given = cluster.spec.components.kube_apiserver.audit.policy_file
    if not given:
        header = (b"# kube-apiserver's audit policy, written by the runbook compiler: the first rule a request\n"
                  b"# matches decides. Secrets, ConfigMaps and tokens: who and when, never their content.\n")
        return header + yaml_text.dump(DEFAULT_POLICY)
    path = Path(given) if Path(given).is_absolute() else REPO / given
    if not path.is_file() or path.is_symlink():
        raise AuditPolicyError(f"components.kube-apiserver.audit.policy_file {given}: not a regular file")
    data = path.read_bytes()
    if len(data) > POLICY_LIMIT:
        raise AuditPolicyError(f"components.kube-apiserver.audit.policy_file {given}: larger than {POLICY_LIMIT} "
                               "bytes")
    try:
        policy = yaml.safe_load(data)
    except yaml.YAMLError as err:
        raise AuditPolicyError(f"components.kube-apiserver.audit.policy_file {given}: not YAML "
                               f"({getattr(err, 'problem', 'unreadable')})") from None
    if not (isinstance(policy, dict) and policy.get("kind") == "Policy"
            and str(policy.get("apiVersion", "")).startswith("audit.k8s.io/")
            and isinstance(policy.get("rules"), list) and policy["rules"]):
        raise AuditPolicyError(f"components.kube-apiserver.audit.policy_file {given}: not an audit Policy "
                               "(kind: Policy, apiVersion: audit.k8s.io/v1, a list of rules)")
    return data


def flags(cluster: Cluster) -> list[str]:
    audit = cluster.spec.components.kube_apiserver.audit
    paths = Paths(cluster)
    return [
        f"--audit-policy-file={paths.policy}",
        f"--audit-log-path={paths.log}",
        f"--audit-log-maxage={audit.max_age_days}",
        f"--audit-log-maxbackup={audit.max_backups}",
        f"--audit-log-maxsize={audit.max_size_mb}",
    ]


def step(cluster: Cluster) -> Step:
    paths = Paths(cluster)
    audit = cluster.spec.components.kube_apiserver.audit
    first = cluster.masters[0]
    return Step(
        **TEXT.step(f"{ID}.audit", policy=paths.policy, log=paths.log, age=audit.max_age_days,
                    backups=audit.max_backups, size=audit.max_size_mb,
                    own=TEXT(f"{ID}.audit", "policy-own" if audit.policy_file else "policy-default",
                             file=audit.policy_file)),
        shows=(Show("audit-policy.yaml", "yaml", ((first.name, on_node(first, paths.policy)),)),),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node, f"{sudo(cluster)}install -d -m 0700 {cluster.spec.paths.log_dir} && "
                              f"stat -c '%a %n' {cluster.spec.paths.log_dir}",
               expect=r"^700 ", example=f"700 {cluster.spec.paths.log_dir}"),
        ]),
    )


def artifacts(cluster: Cluster) -> list[Artifact]:
    text = policy_text(cluster)
    return [Artifact(on_node(node, Paths(cluster).policy), text, ID, "config") for node in cluster.masters]
