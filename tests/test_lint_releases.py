"""`invoke lint` against releases: the seeds' own artifacts (tests/fixtures/seeds/, typed from the seed documents),
fresh renders of every release band, mistakes injected into renders, and units swapped between releases.

Every expectation is written here by hand from the seeds and from upstream facts (PR numbers, VERSIONS.md, the
built binaries' own messages), never read from the generator's tables: for each finding the file, the rule, what
it names and the release that removed (or added) it.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_invoke

SEEDS = REPO / "tests" / "fixtures" / "seeds"
UNIT = "etc/systemd/system/kube-scheduler.service"
CONFIG = "etc/kubernetes/kube-scheduler.yaml"
MODERN, BAND = "1.30.4", "1.20.15"  # a release with none of the insecure ports, and one of 1.13-1.22
Expected = list[tuple[str, str, tuple[str, ...]]]  # (file under the directory, rule, fragments of the message)

SEED_FINDINGS: dict[tuple[str, str], Expected] = {
    # seed 001: flags only. Nothing it uses is gone, but --kubeconfig has long been deprecated for --config...
    ("001", MODERN): [(UNIT, "flag-deprecated", ("--kubeconfig", "deprecated"))],
    # ...and before 1.23 the insecure port listens on --address, 0.0.0.0 by default, port 10251
    ("001", BAND): [(UNIT, "flag-deprecated", ("--kubeconfig",)),
                    (UNIT, "insecure-port-open", ("0.0.0.0:10251",))],
    # seed 002: v1alpha1 (removed in 1.19, #89298) with fields v1beta1 dropped (1.19) and v1beta3 dropped (1.23,
    # #104251); --port removed in 1.24 (#96345 made it a no-op), --logtostderr in 1.26 (#112120)
    ("002", MODERN): [(CONFIG, "config-api-version", ("v1alpha1", "removed in 1.19", "kubescheduler.config.k8s.io/v1")),
                      (CONFIG, "config-unknown-field", ("bindTimeoutSeconds", "1.19")),
                      (CONFIG, "config-unknown-field", ("hardPodAffinitySymmetricWeight", "1.19")),
                      (CONFIG, "config-unknown-field", ("healthzBindAddress", "1.23")),
                      (CONFIG, "config-unknown-field", ("metricsBindAddress", "1.23")),
                      (UNIT, "flag-removed", ("--port", "1.24")),
                      (UNIT, "flag-removed", ("--logtostderr", "1.26"))],
    # on 1.20 v1beta1 keeps the bind addresses, which put the plain-HTTP port on the node's IP: with --config,
    # --port=0 is ignored
    ("002", BAND): [(CONFIG, "config-api-version", ("v1alpha1", "removed in 1.19", "v1beta1")),
                    (CONFIG, "config-unknown-field", ("bindTimeoutSeconds", "1.19")),
                    (CONFIG, "config-unknown-field", ("hardPodAffinitySymmetricWeight", "1.19")),
                    (CONFIG, "insecure-port-open", ("healthzBindAddress", "103.172.239.9:10251")),
                    (CONFIG, "insecure-port-open", ("metricsBindAddress", "103.172.239.9:10251"))],
    # seed 003: --address=0.0.0.0 (removed in 1.24), klog's file flags (1.26), --kubeconfig
    ("003", MODERN): [(UNIT, "flag-removed", ("--address", "1.24")),
                      (UNIT, "flag-removed", ("--logtostderr", "1.26")),
                      (UNIT, "flag-removed", ("--log-dir", "1.26")),
                      (UNIT, "flag-deprecated", ("--kubeconfig",))],
    ("003", BAND): [(UNIT, "insecure-port-open", ("0.0.0.0:10251",)),
                    (UNIT, "flag-deprecated", ("--kubeconfig",))],
}


def lint(directory: Path, *args: str) -> tuple[int, list[tuple[str, str, str]], str]:
    """(exit status, [(file relative to `directory`, rule, message)], all output) of the real `invoke lint`."""
    proc = run_invoke("lint", "--dir", str(directory), *args, check=False)
    found = []
    for line in proc.stdout.splitlines():
        if line.startswith(f"{directory}/"):
            path, rule, message = line.split(": ", 2)
            found.append((path.removeprefix(f"{directory}/"), rule, message))
    return proc.returncode, found, proc.stdout + proc.stderr


def assert_findings(found: list[tuple[str, str, str]], expected: Expected, output: str) -> None:
    """Each expected finding is exactly one line, and there is no other."""
    assert len(found) == len(expected), output
    for path, rule, fragments in expected:
        hits = [f for f in found if f[:2] == (path, rule) and all(x in f[2] for x in fragments)]
        assert len(hits) == 1, f"{path} {rule} {fragments}:\n{output}"


@pytest.mark.parametrize(("seed", "release"), sorted(SEED_FINDINGS))
def test_the_seeds_own_artifacts_get_a_reviewers_findings(seed: str, release: str) -> None:
    rc, found, output = lint(SEEDS / seed, "--release", release)
    assert rc == 1, output
    assert_findings(found, SEED_FINDINGS[(seed, release)], output)


def test_without_a_release_the_version_rules_are_silent_and_the_others_still_speak() -> None:
    rc, found, output = lint(SEEDS / "002")
    # v1alpha1 knows each of its fields; which release removed what cannot be said without a release
    assert rc == 0 and found == [], output


def test_a_bad_release_or_two_sources_of_one_are_one_line() -> None:
    for args, words in ((("--release", "1.30"), "patch release"),
                        (("--release", "1.30.4", "--cluster", "example"), "not both")):
        proc = run_invoke("lint", "--dir", str(SEEDS / "001"), *args, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr, proc.stderr


# --------------------------------------------------------------------------------------------- renders by band

# Every band of the insecure ports and config versions: 1.12 (10251 only), 1.16 (v1alpha1, endpoints lock), 1.20
# (v1beta1), 1.22 (v1beta2, last with 10251), 1.23 (v1beta3), 1.28, 1.36, and 1.37 (its removed flag, gates, plugins).
BANDS = ["1.12.10", "1.16.15", "1.20.15", "1.22.17", "1.23.17", "1.28.15", "1.36.3", "1.37.2"]
APISERVER_UNIT = "/etc/systemd/system/kube-apiserver.service"
MANAGER_UNIT = "/etc/systemd/system/kube-controller-manager.service"


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """build/lint-<band>-<id>/ rendered by the real task for each band (ECDSA keys: cheap fresh PKIs)."""
    tmp = tmp_path_factory.mktemp("bands")
    suffix = uuid.uuid4().hex[:6]
    jobs = {}
    for release in BANDS:
        spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
        spec.update(name=f"lint-{release.replace('.', '-')}-{suffix}", kubernetes_version=release,
                    certificates={"key": {"algo": "ecdsa", "size": 256}})
        path = tmp / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec))
        jobs[release] = (path, REPO / "build" / spec["name"])
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda job: run_invoke("render", "--cluster", str(job[0])), jobs.values()))
        yield {release: build for release, (_, build) in jobs.items()}
    finally:
        for _, build in jobs.values():
            shutil.rmtree(build, ignore_errors=True)


@pytest.fixture()
def copy_of(renders: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    def copy(release: str) -> Path:
        target = tmp_path / release
        shutil.copytree(renders[release], target)
        return target
    return copy


def master_file(build: Path, absolute: str) -> Path:
    return build / "nodes" / "k8s-master-01" / absolute.lstrip("/")


@pytest.mark.parametrize("release", BANDS)
def test_a_fresh_render_of_every_band_has_no_findings(renders: dict[str, Path], release: str) -> None:
    rc, found, output = lint(renders[release])  # the release comes from the render's environment.sh
    assert rc == 0 and found == [], output
    rc, found, output = lint(renders[release], "--release", release)
    assert rc == 0 and found == [], output


def edit(path: Path, change: Callable[[str], str]) -> None:
    before = path.read_text()
    after = change(before)
    assert after != before, f"the injection did not change {path}"
    path.write_text(after)


def add_flag(flag: str) -> Callable[[str], str]:
    """Insert `flag` as the first flag of ExecStart."""
    return lambda text: re.sub(r"^(ExecStart=\S+ \\\n)", rf"\1  {flag} \\\n", text, count=1, flags=re.MULTILINE)


# rule -> (band rendered, file on the first master, change): one finding of that rule in that file, nothing else
INJECTIONS: dict[str, tuple[str, str, Callable[[str], str]]] = {
    "yaml-invalid": ("1.36.3", f"/{CONFIG}", lambda t: t.replace("leaderElection:", "leaderElection: [", 1)),
    "config-api-version": ("1.36.3", f"/{CONFIG}", lambda t: re.sub(r"(?m)^apiVersion: .*$",
                                                                     "apiVersion: kubescheduler.config.k8s.io/v1beta3",
                                                                     t)),
    "flag-removed": ("1.36.3", f"/{UNIT}", add_flag("--port=0")),
    "flag-deprecated": ("1.36.3", f"/{UNIT}", add_flag("--kubeconfig=/etc/kubernetes/kube-scheduler.kubeconfig")),
    "flag-not-yet": ("1.22.17", "/etc/systemd/system/kube-apiserver.service",
                     add_flag("--shutdown-send-retry-after=true")),
    "insecure-port-open": ("1.22.17", f"/{CONFIG}", lambda t: t.replace("healthzBindAddress: 127.0.0.1:10251",
                                                                         "healthzBindAddress: 0.0.0.0:10251")),
    # 1.37 removed the GA gate SidecarContainers (#137755) and the alpha plugin JobValidation (with v1alpha2
    # PodGroups); APIServerWebhookAuthenticationToken is new in 1.37 (pkg/features of v1.36.3 against v1.37.2)
    "gate-removed": ("1.37.2", APISERVER_UNIT, add_flag("--feature-gates=SidecarContainers=true")),
    "gate-not-yet": ("1.36.3", APISERVER_UNIT, add_flag("--feature-gates=APIServerWebhookAuthenticationToken=true")),
    "admission-plugin-removed": ("1.37.2", APISERVER_UNIT, lambda t: t.replace(
        "--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins=NodeRestriction,JobValidation")),
    "flag-unknown": ("1.37.2", MANAGER_UNIT, add_flag("--concurent-service-syncs=5")),  # sic: no release has it
    "gate-unknown": ("1.37.2", APISERVER_UNIT, add_flag("--feature-gates=SidecarContainer=true")),  # sic
    "admission-plugin-not-yet": ("1.28.15", APISERVER_UNIT, lambda t: t.replace(  # JobValidation: 1.36 only
        "--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins=NodeRestriction,JobValidation")),
    "admission-plugin-unknown": ("1.37.2", APISERVER_UNIT, lambda t: t.replace(
        "--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins=NodeRestrictions")),  # sic
    # not a release's rule, but one a render shows: the seeds' etcd CA, the cluster CA
    "etcd-shares-cluster-ca": ("1.36.3", "/etc/systemd/system/kube-apiserver.service",
                               lambda t: t.replace("--etcd-cafile=/etc/kubernetes/pki/etcd-ca.pem",
                                                   "--etcd-cafile=/etc/kubernetes/pki/ca.pem")),
}


@pytest.mark.parametrize("rule", sorted(INJECTIONS))
def test_each_release_mistake_is_found_exactly_there(rule: str, copy_of: Callable[[str], Path]) -> None:
    release, absolute, change = INJECTIONS[rule]
    build = copy_of(release)
    edit(master_file(build, absolute), change)
    rc, found, output = lint(build)
    assert rc == 1, output
    assert [(path, found_rule) for path, found_rule, _ in found] == [
        (f"nodes/k8s-master-01{absolute}", rule)], output


def swap_units(source: Path, target: Path) -> None:
    for name in ("kube-apiserver", "kube-controller-manager"):
        unit = f"/etc/systemd/system/{name}.service"
        shutil.copy(master_file(source, unit), master_file(target, unit))


def test_units_of_an_old_release_on_a_new_one_name_what_went_when(copy_of: Callable[[str], Path],
                                                                   renders: dict[str, Path]) -> None:
    build = copy_of("1.36.3")
    swap_units(renders["1.16.15"], build)
    rc, found, output = lint(build)
    apiserver = "nodes/k8s-master-01/etc/systemd/system/kube-apiserver.service"
    manager = "nodes/k8s-master-01/etc/systemd/system/kube-controller-manager.service"
    assert_findings(found, [
        (apiserver, "flag-removed", ("--insecure-port", "1.24")),  # #106859
        (manager, "flag-removed", ("--address", "1.24")),  # #106860
        (manager, "flag-removed", ("--port", "1.24")),
        (manager, "flag-removed", ("--experimental-cluster-signing-duration", "1.25")),  # #108476
        (manager, "lock-removed", ("endpoints", "1.24")),  # #106852
    ], output)


def test_units_of_a_new_release_on_an_old_one_name_what_came_when(copy_of: Callable[[str], Path],
                                                                   renders: dict[str, Path]) -> None:
    build = copy_of("1.16.15")
    swap_units(renders["1.36.3"], build)
    rc, found, output = lint(build)
    apiserver = "nodes/k8s-master-01/etc/systemd/system/kube-apiserver.service"
    manager = "nodes/k8s-master-01/etc/systemd/system/kube-controller-manager.service"
    assert_findings(found, [
        (apiserver, "flag-not-yet", ("--shutdown-send-retry-after", "1.23")),  # #101257
        (apiserver, "flag-not-yet", ("--service-account-extend-token-expiration", "1.19")),  # measured
        (manager, "flag-not-yet", ("--cluster-signing-duration", "1.19")),  # #91154
        # and without --address, 1.16's controller manager serves 10252 on every interface
        (manager, "insecure-port-open", ("0.0.0.0:10252",)),
    ], output)


def test_what_1_37_removed_is_named_with_what_replaces_it(copy_of: Callable[[str], Path]) -> None:
    build = copy_of("1.37.2")
    edit(master_file(build, MANAGER_UNIT), add_flag("--concurrent-service-syncs=5"))  # #138002
    edit(master_file(build, APISERVER_UNIT), add_flag(
        "--feature-gates=kube:StructuredAuthenticationConfiguration=true,SchedulerQueueingHints=false"))
    edit(master_file(build, APISERVER_UNIT), lambda t: t.replace(  # #139008
        "--enable-admission-plugins=NodeRestriction",
        "--enable-admission-plugins=PodGroupWorkloadExists,NodeRestriction"))
    rc, found, output = lint(build)
    apiserver, manager = f"nodes/k8s-master-01{APISERVER_UNIT}", f"nodes/k8s-master-01{MANAGER_UNIT}"
    assert_findings(found, [
        (manager, "flag-removed", ("--concurrent-service-syncs", "removed in 1.37", "cloud-controller-manager")),
        (apiserver, "gate-removed", ("StructuredAuthenticationConfiguration", "removed in 1.37",
                                     "--authentication-config", "unrecognized feature gate")),
        (apiserver, "gate-removed", ("SchedulerQueueingHints", "removed in 1.37", "always on")),
        (apiserver, "admission-plugin-removed", ("PodGroupWorkloadExists", "removed in 1.37", "v1alpha2")),
    ], output)
    rc, found, output = lint(build, "--release", "1.36.3")  # the same unit on 1.36 is right
    assert rc == 0 and found == [], output
