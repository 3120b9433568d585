"""kube-apiserver checks once it runs: health, readiness, kubelet RBAC, encryption at rest, losing one apiserver."""

from __future__ import annotations

import re
import shlex

from generator import daemons
from generator.components import leader
from generator.components.admin.files import kubectl
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.kube_apiserver.facts import ApiServerFacts
from generator.components.kube_apiserver.files import (
    ID,
    KUBELET_CLIENT_USER,
    KUBELET_RBAC_BINDING,
    KUBELET_RBAC_ROLE,
)
from generator.components.load_balancer.shell import backend_status_function, holder_functions
from generator.model import Cluster, Node
from generator.steps import Command, Step, for_each_master, on, pki_file, sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)

# A Secret written only to see how etcd stores it; its value is a marker, not a secret.
PROBE_SECRET = "runbook-encryption-probe"
PROBE_VALUE = "plaintext-marker-visible-only-without-encryption"
STORED_PREFIX = "k8s:enc:secretbox:v1:key1:"
LOSS_WAIT = 60  # seconds the apiserver-loss test may take at most
POLL = "0.2"
READY_WAIT = 60  # seconds the endpoint may take to have a backend UP


def health_step(cluster: Cluster) -> Step:
    port = cluster.spec.api_server.secure_port
    return Step(
        **TEXT.step(f"{ID}.health", port=port, READY_WAIT=READY_WAIT),
        per_node=for_each_master(cluster, lambda node: [Command(healthz_until_ok(cluster, node, port),
                                                                expect=r"^ok$", example="ok")]),
        needs_kube_binaries=True,
    )


def until_it_answers(query: str) -> str:
    """`query` again every 0.5 s until it succeeds (at most READY_WAIT s), then once more to show its answer."""
    return "\n".join([
        f"end=$((SECONDS + {READY_WAIT}))",
        f"until {query} >/dev/null 2>&1 || [ $SECONDS -ge $end ]; do sleep 0.5; done",
        query,
    ])


def healthz_until_ok(cluster: Cluster, node: Node, port: int) -> str:
    return until_it_answers(shlex.join(["curl", "-sS", "--fail", "--cacert", pki_file(cluster, "ca.pem"),
                                        f"https://{node.host}:{port}/healthz"]))


def ready_step(cluster: Cluster, f: ApiServerFacts) -> Step:
    query = f"{kubectl(cluster)} get --raw {shlex.quote(f.ready_path)}"
    # Each master answered /healthz just before, but the load balancer marks a backend UP only after CHECK_RISE
    # checks CHECK_INTERVAL s apart (haproxy answered "EOF" to a request made 0.07 s after the last master came up).
    command = until_it_answers(query)
    if f.has_readyz:
        expect = rf"^{f.ready_verdict}$"
        example = f"[+]etcd ok\n[+]poststarthook/start-apiextensions-controllers ok\n{f.ready_verdict}"
        what = TEXT(f"{ID}.ready", "what-readyz", f=f)
    else:
        expect = r"^ok$"
        example = "ok"
        what = TEXT(f"{ID}.ready", "what-healthz")
    return Step(
        **TEXT.step(f"{ID}.ready", cluster=cluster, what=what, READY_WAIT=READY_WAIT),
        local=(Command(command, expect=expect, example=example),),
        needs_kube_binaries=True,
    )


def kubelet_rbac_step(cluster: Cluster) -> Step:
    k = kubectl(cluster)
    create = (f"{k} get clusterrolebinding {KUBELET_RBAC_BINDING} >/dev/null 2>&1 || "
              f"{k} create clusterrolebinding {KUBELET_RBAC_BINDING} --clusterrole={KUBELET_RBAC_ROLE} "
              f"--user={KUBELET_CLIENT_USER}")
    query = 'jsonpath={.roleRef.name} {.subjects[0].kind} {.subjects[0].name}{"\\n"}'
    verify = f"{k} get clusterrolebinding {KUBELET_RBAC_BINDING} -o {shlex.quote(query)}"
    return Step(
        **TEXT.step(f"{ID}.kubelet-rbac", KUBELET_CLIENT_USER=KUBELET_CLIENT_USER,
                    KUBELET_RBAC_BINDING=KUBELET_RBAC_BINDING, KUBELET_RBAC_ROLE=KUBELET_RBAC_ROLE),
        local=(
            Command(create),
            Command(verify, expect=rf"^{KUBELET_RBAC_ROLE} User {KUBELET_CLIENT_USER}$",
                    example=f"{KUBELET_RBAC_ROLE} User {KUBELET_CLIENT_USER}"),
        ),
        needs_kube_binaries=True,
    )


def encryption_at_rest_step(cluster: Cluster) -> Step:
    k = kubectl(cluster)
    node = runner(cluster)
    read = etcdctl(cluster, etcd_facts(cluster.spec.components.etcd.version), "get",
                   f"/registry/secrets/default/{PROBE_SECRET}", "--print-value-only", members=(node,))
    remote = (f"{read} | head -c {len(STORED_PREFIX)}; echo; "
              f"if {read} | grep -qa {PROBE_VALUE}; then echo 'plaintext FOUND in etcd'; "
              "else echo 'plaintext not in etcd'; fi")
    expect = rf"\A(?=[\s\S]*^{re.escape(STORED_PREFIX)}$)(?=[\s\S]*^plaintext not in etcd$)"
    return Step(
        **TEXT.step(f"{ID}.encryption-at-rest", PROBE_SECRET=PROBE_SECRET, node=node, STORED_PREFIX=STORED_PREFIX),
        local=(
            Command(f"{k} delete secret {PROBE_SECRET} --ignore-not-found"),
            Command(f"{k} create secret generic {PROBE_SECRET} --from-literal=probe={PROBE_VALUE}",
                    expect=rf"{PROBE_SECRET}.* created", example=f"secret/{PROBE_SECRET} created"),
            on(cluster, node, remote, expect=expect, example=f"{STORED_PREFIX}\nplaintext not in etcd"),
            Command(f"{k} delete secret {PROBE_SECRET}", expect=rf"{PROBE_SECRET}.* deleted",
                    example=f'secret "{PROBE_SECRET}" deleted'),
        ),
        needs_kube_binaries=True,
    )


def leader_identity_functions(cluster: Cluster) -> list[str]:
    """Shell function `identities`: the full holder identity (host and process id) of every elected service's
    lock, one per line; a restarted or replaced leader shows up as a changed line."""
    queries = [leader.leader_query(cluster, s.unit, s.election.lock(cluster).from_lease)
               for s in daemons.elected(cluster) if s.election]
    return ["identities() {", *(f"  {q} 2>/dev/null" for q in queries), "}"]


def loss_script(cluster: Cluster) -> str:
    api = cluster.spec.api_server
    s = sudo(cluster)
    host = f"[{api.vip}]" if ":" in (api.vip or "") else api.vip
    request = shlex.join(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "--max-time", "5",
                          "--cacert", pki_file(cluster, "ca.pem"), "--cert", pki_file(cluster, "admin.pem"),
                          "--key", pki_file(cluster, "admin-key.pem"),
                          f"https://{host}:{api.port}/api/v1/namespaces/default"])
    return "\n".join([
        *holder_functions(cluster),
        *backend_status_function(cluster),
        f"end=$((SECONDS + {LOSS_WAIT}))",
        'old=$(holders); echo "VIP on: $old"',
        '[ "$(echo $old | wc -w)" -eq 1 ] || { echo "the VIP must be on exactly one master first"; exit 1; }',
        'log=$(mktemp); done_file=$(mktemp -u)',
        f'( while [ ! -e "$done_file" ] && [ $SECONDS -lt $end ]; do {request} >> "$log" 2>/dev/null; '
        'sleep 0.1; done ) & loop=$!',
        *leader_identity_functions(cluster),
        'before="$(identities)"',
        "sleep 2",
        "t0=$(date +%s.%N)",
        f"on_node \"$old\" '{s}systemctl stop {ID}' & stopping=$!",
        'until grep -q "^DOWN" <<< "$(backend_status "$old" "$old")" || [ $SECONDS -ge $end ]; '
        f"do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        'echo "haproxy on $old: backend $old is $(backend_status "$old" "$old")"',
        "sleep 3",
        'touch "$done_file"; wait $loop; wait $stopping',
        'total=$(grep -c . "$log"); failed=$(grep -vc "^200$" "$log"); rm -f "$log"',
        f"on_node \"$old\" '{s}systemctl start {ID}'",
        'until grep -q "^UP" <<< "$(backend_status "$old" "$old")" || [ $SECONDS -ge $end ]; '
        f"do sleep {POLL}; done",
        'echo "haproxy on $old: backend $old is $(backend_status "$old" "$old") again"',
        'echo "requests through the VIP while kube-apiserver on $old stopped: $total, failed: $failed"',
        'changes=$(diff <(echo "$before") <(identities) | grep -c "^>")',
        'echo "leader locks that changed hands meanwhile: $changes"',
        'echo "measured: apiserver_loss_leader_changes=$changes"',
        'awk -v a="$t0" -v b="$t1" \'BEGIN { printf "measured: apiserver_backend_down_seconds=%.3f\\n", b - a }\'',
        'echo "measured: apiserver_loss_requests=$total"',
        'echo "measured: apiserver_loss_failed_requests=$failed"',
    ])


def loss_step(cluster: Cluster) -> Step:
    api = cluster.spec.api_server
    return Step(
        **TEXT.step(f"{ID}.failover", api=api),
        local=(Command(loss_script(cluster), expect=r"^requests through the VIP while kube-apiserver on \S+ stopped: "
                       r"\d+, failed: \d+$",
                       example=f"requests through the VIP while kube-apiserver on {cluster.masters[0].name} stopped: "
                               "69, failed: 0\nmeasured: apiserver_backend_down_seconds=3.241"),),
        needs_kube_binaries=True,
    )
