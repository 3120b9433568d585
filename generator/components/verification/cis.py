"""The CIS Kubernetes Benchmark on every master, with Aqua Security's kube-bench, when the cluster file asks for it
(`verification.cis: true`).

kube-bench reads running processes' flags (`ps`) and files at paths its config names; its defaults are kubeadm's
(static pod manifests, /etc/kubernetes/*.conf). The settings rendered here name this runbook's own files: units as
the components' "pod specifications", their kubeconfigs and config, etcd's data directory. They go where kube-bench
merges a benchmark's own overrides (cfg/<benchmark>/config.yaml) over its base cfg/config.yaml, which stays: the base
holds the release-to-benchmark and target-to-file mappings without which kube-bench checks nothing. A check this layout
makes inapplicable, or that reads the wrong place for it, is listed in EXPLAINED with the reason on the page; any
other FAIL fails the step, naming the check.
"""

from __future__ import annotations

import re
import shlex

from generator import yaml_text
from generator.artifacts import Artifact, rel_build
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.kube_apiserver.files import Paths as ApiServerPaths
from generator.components.kube_controller_manager.files import Paths as ControllerManagerPaths
from generator.components.kube_scheduler.files import Paths as SchedulerPaths
from generator.components.prerequisites.files import downloads
from generator.components.prerequisites.nodes import on_node_function
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import (
    Command,
    Script,
    Step,
    for_each_master,
    remote,
    render,
    script_header,
    scripts_dir,
    ssh_prefix,
    sudo,
)
from generator.text import Text, Texts
from generator.versions import Timeline

TEXT = Texts.of_module(__file__)
ID = "verification"
TARGETS = "master,etcd,controlplane,policies"
# kube-bench's own version_mapping (cfg/config.yaml of v0.15.6): the benchmark each release is checked against;
# releases newer than its last entry get the newest benchmark it ships.
BENCHMARK = Timeline(((1, 12), "cis-1.5"), ((1, 16), "cis-1.6"), ((1, 19), "cis-1.20"), ((1, 22), "cis-1.23"),
                     ((1, 24), "cis-1.24"), ((1, 25), "cis-1.7"), ((1, 26), "cis-1.8"), ((1, 27), "cis-1.9"),
                     ((1, 28), "cis-1.10"), ((1, 29), "cis-1.11"), ((1, 32), "cis-1.12"))
# Checks this layout fails for a reason the page gives (cis.yaml, `explained-<what>`), each looked at by hand, by
# what they check. Each benchmark numbers its checks its own way (cfg/<benchmark>/master.yaml in kube-bench): the
# check's id under each benchmark that has it, "*" for every benchmark.
EXPLAINED: dict[str, dict[str, str]] = {
    "etcd-data-owner": {"*": "1.1.12"},
    "admin-conf-mode": {"*": "1.1.13"},
    "admin-conf-owner": {"*": "1.1.14"},
    # PodSecurityPolicy left the benchmark with cis-1.23 (the API was removed in 1.25)
    "pod-security-policy": {"cis-1.5": "1.2.16", "cis-1.6": "1.2.16", "cis-1.20": "1.2.15"},
    "scheduler-profiling": {"*": "1.4.1"},
}


def explained(benchmark: str) -> dict[str, str]:
    """The checks `benchmark` fails in this layout, each id with what it checks (EXPLAINED's key), in check order."""
    found = {check: what for what, ids in EXPLAINED.items() if (check := ids.get(benchmark, ids.get("*")))}
    return dict(sorted(found.items(), key=lambda item: [int(n) for n in item[0].split(".")]))


def tarball_name(version: str) -> str:
    return f"kube-bench_{version}_linux_amd64.tar.gz"


def release_url(version: str, name: str) -> str:
    return f"https://github.com/aquasecurity/kube-bench/releases/download/v{version}/{name}"


def unpacked(cluster: Cluster) -> str:
    return f"{downloads(cluster)}/kube-bench-v{cluster.spec.verification.kube_bench}"


def node_dir(cluster: Cluster) -> str:
    return f"{cluster.spec.paths.config_dir}/kube-bench"


def config_path() -> str:
    """The rendered config in build/<cluster>/ (a public file: it names paths, nothing secret)."""
    return "kube-bench/kube-bench-config.yaml"


def config(cluster: Cluster) -> dict:
    api, cm, sched, etcd = (ApiServerPaths(cluster), ControllerManagerPaths(cluster), SchedulerPaths(cluster),
                            EtcdPaths(cluster))
    etcd_section = {"bins": ["etcd"], "datadirs": [etcd.data_dir], "defaultdatadir": etcd.data_dir,
                    "confs": [etcd.unit], "defaultconf": etcd.unit}
    return {
        "master": {
            "components": ["apiserver", "scheduler", "controllermanager", "etcd"],
            "apiserver": {"bins": ["kube-apiserver"], "confs": [api.unit], "defaultconf": api.unit},
            "scheduler": {"bins": ["kube-scheduler"], "confs": [sched.unit], "defaultconf": sched.unit,
                          "kubeconfig": [sched.kubeconfig], "defaultkubeconfig": sched.kubeconfig},
            "controllermanager": {"bins": ["kube-controller-manager"], "confs": [cm.unit],
                                  "defaultconf": cm.unit, "kubeconfig": [cm.kubeconfig],
                                  "defaultkubeconfig": cm.kubeconfig},
            "etcd": {"optional": True, **etcd_section},
        },
        "etcd": {"components": ["etcd"], "etcd": etcd_section},
        "controlplane": {"components": ["apiserver"], "apiserver": {"bins": ["kube-apiserver"]}},
        "policies": {"components": []},
        "managedservices": {"components": []},
    }


def artifacts(ctx: RenderContext) -> list[Artifact]:
    if not ctx.cluster.spec.verification.cis:
        return []
    header = (b"# kube-bench's configuration for this runbook's layout (written by the runbook compiler): which\n"
              b"# processes and files each CIS check reads. The benchmark's own checks come with kube-bench (cfg/).\n")
    return [Artifact(config_path(), header + yaml_text.dump(config(ctx.cluster)), ID, "config")]


def fetch_commands(cluster: Cluster) -> list[Command]:
    version = cluster.spec.verification.kube_bench
    name = tarball_name(version)
    given = cluster.spec.prerequisites.kube_bench_tarball
    target = unpacked(cluster)
    commands = []
    if given:
        tarball = given
        commands.append(Command(f"sha256sum {shlex.quote(given)}"))
    else:
        tarball = f"{target}/{name}"
        sums = release_url(version, f"kube-bench_{version}_checksums.txt")
        commands += [
            Command(shlex.join(["curl", "-fL", "--create-dirs", "-o", tarball, release_url(version, name)])),
            Command(f'echo "$(curl -fsSL {shlex.quote(sums)} | awk \'$2 == "{name}" {{print $1}}\')  '
                    f'{shlex.quote(tarball)}" | sha256sum -c', expect=r": OK$", example=f"{tarball}: OK"),
        ]
    commands.append(Command(f"mkdir -p {shlex.quote(target)} && "
                            + shlex.join(["tar", "-xzf", tarball, "-C", target, "kube-bench", "cfg"])))
    commands.append(Command(f"{shlex.quote(target)}/kube-bench version", expect=rf"^v?{re.escape(version)}$",
                            example=version))
    return commands


def report_script(cluster: Cluster) -> Script | None:
    """`cis-report.sh NODE`: kube-bench on NODE (as root, its report kept there), then, on the workstation, the
    report's results, their totals as `measured:` figures, and exit 1 on a FAIL that EXPLAINED does not list."""
    if not cluster.spec.verification.cis or not cluster.masters:
        return None
    directory = node_dir(cluster)
    benchmark = BENCHMARK.at(cluster.release)
    report = f"{directory}/report-{benchmark}.txt"
    return Script("cis-report.sh", **TEXT.fields(f"{ID}.script.cis-report", benchmark=benchmark, report=report),
                  body="\n".join([
        *script_header(f"cis-report.sh NODE: kube-bench's {benchmark} on NODE, its results and totals"),
        *on_node_function(cluster),
        f"node=$1 dir={directory} report={report}",
        # a backslash-newline inside double quotes is removed by the shell here, before ssh sends the command
        f"on_node \"$node\" \"{sudo(cluster)}bash -c 'cd $dir && $dir/kube-bench run --config-dir=$dir/cfg "
        f"--benchmark={benchmark} \\\n    --targets={TARGETS} --noremediations > $report 2>&1 || true'\"",
        f'results=$(on_node "$node" "{sudo(cluster)}cat $report") || exit 1',
        "grep -E '^\\[(PASS|FAIL|WARN|INFO)\\] [0-9.]+ ' <<< \"$results\"",
        'count() { grep -c "^\\[$1\\] [0-9.]* " <<< "$results"; }',
        "pass=$(count PASS); fail=$(count FAIL); warn=$(count WARN)",
        f'echo "kube-bench {benchmark} on $node: PASS=$pass FAIL=$fail WARN=$warn"',
        'echo "measured: cis_pass=$pass"; echo "measured: cis_fail=$fail"; echo "measured: cis_warn=$warn"',
        "new=$(grep '^\\[FAIL\\] ' <<< \"$results\" | cut -d' ' -f2 | grep -vxF "
        + " ".join(f"-e {check}" for check in explained(benchmark)) + " | xargs)",
        '[ -z "$new" ] || { echo "FAIL the runbook does not explain: $new"; exit 1; }',
        '[ "$pass" -gt 0 ] || { echo "kube-bench checked nothing: see $report on $node"; exit 1; }',
    ]), directory=scripts_dir(cluster))


def step(cluster: Cluster) -> Step:
    directory = node_dir(cluster)
    target = unpacked(cluster)
    s = sudo(cluster)
    benchmark = BENCHMARK.at(cluster.release)
    report = report_script(cluster)
    assert report is not None, "the CIS step without masters or without verification.cis"

    def commands(node: Node) -> list[Command]:
        ship = (f"tar -C {shlex.quote(target)} -cf - kube-bench cfg | {ssh_prefix(cluster, node)} "
                + shlex.quote(f"{s}mkdir -p {directory} && {s}tar -C {directory} -xf - --no-same-owner"))
        receive = f"{s}sh -c " + shlex.quote(f"cat > {directory}/cfg/{benchmark}/config.yaml")
        own = f"{remote(cluster, node, receive)} < {rel_build(cluster)}/{config_path()}"
        return [Command(ship), Command(own),
                Command(report.call(node.name),
                        expect=rf"^kube-bench {benchmark} on {re.escape(node.name)}: PASS=\d+ FAIL=\d+ WARN=\d+$",
                        example=f"[PASS] 1.1.2 Ensure that the API server pod specification file ownership is set to "
                                f"root:root (Automated)\n…\nkube-bench {benchmark} on {node.name}: PASS=52 FAIL=4 "
                                "WARN=16")]

    reasons = [TEXT(f"{ID}.cis", f"explained-{what}", check=check) for check, what in explained(benchmark).items()]
    return Step(
        **TEXT.step(f"{ID}.cis", version=cluster.spec.verification.kube_bench, benchmark=benchmark,
                    targets=TARGETS, dir=directory, overrides=f"{directory}/cfg/{benchmark}/config.yaml",
                    config=f"{rel_build(cluster)}/{config_path()}",
                    explained=Text(zh="\n".join(t.zh for t in reasons), en="\n".join(t.en for t in reasons))),
        local=(render(cluster, ID, "config"), *fetch_commands(cluster)),
        per_node=for_each_master(cluster, commands),
    )


def steps(cluster: Cluster) -> list[Step]:
    return [step(cluster)] if cluster.spec.verification.cis else []
