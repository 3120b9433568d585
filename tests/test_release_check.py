"""`invoke release-check`: the generator's flags, gates and admission plugins and its version facts against what each
release's binaries accept (generator/kubehelp/accepted.json, measured with `invoke release-check --record`).

Without binaries: the committed measurements pass the check, and each kind of mistake — a removed flag put back into
a daemon's flag list, a fact that dates a removal wrongly, a removal the facts forget — is found and named. With the
binaries of the lab's release (which `make test` builds): measuring them again gives exactly what is committed, and
the --help reader finds what the binary itself refuses or takes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from generator import kubebuild
from generator.components.kube_controller_manager import facts as controller_manager_facts
from generator.components.kube_controller_manager import files as controller_manager_files
from generator.kubehelp import check, data, parse, probe, record
from generator.model import load
from generator.versions import FEATURE_GATES, NEWEST, Release, Timeline
from tests.conftest import run_invoke

LAB_RELEASE = load("lab").release


@pytest.fixture(scope="module")
def accepted() -> data.Accepted:
    return data.load()


def errors(found: list[check.Finding]) -> list[str]:
    return [str(f) for f in found if f.error]


def test_the_committed_measurements_pass_and_cover_every_release_the_module_builds(accepted: data.Accepted) -> None:
    proc = run_invoke("release-check")
    assert "0 errors" in proc.stdout.splitlines()[-1], proc.stdout
    # 1.15 is the first release with a go.mod (generator/kubebuild/recipe.py); every minor since, up to the newest
    # supported one, is measured or listed as not yet measured: a release added to versions.NEWEST without either
    # fails here, and so does one measured but still listed
    assert accepted.minors() == [(1, minor) for minor in range(15, NEWEST[1] + 1)
                                 if (1, minor) not in data.NOT_MEASURED], accepted.measured
    assert NEWEST not in data.NOT_MEASURED


def test_a_removed_flag_put_back_into_the_flag_list_is_an_error_naming_release_daemon_and_flag(
        accepted: data.Accepted, monkeypatch: pytest.MonkeyPatch) -> None:
    writes = controller_manager_files.flags
    # removed in 1.37 (kubernetes/kubernetes#138002), a no-op since 1.31
    monkeypatch.setattr(controller_manager_files, "flags", lambda *a: [*writes(*a), "--concurrent-service-syncs=5"])
    found = errors(check.check(accepted)[0])
    assert found == ["1.37 kube-controller-manager: --concurrent-service-syncs: the generator writes this flag; the "
                     "v1.37.2 binary does not take it"], found


def test_a_flag_written_past_its_removal_is_found_in_every_release_after_it(accepted: data.Accepted,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # kube-controller-manager's insecure port kept open in every release: --address and --port went in 1.24 (#106860)
    monkeypatch.setattr(controller_manager_facts, "INSECURE_PORT", Timeline(((1, 12), 10252)))
    found = errors(check.check(accepted)[0])
    wrong = sorted((f.split(" ")[0], f.split(": ")[1]) for f in found)
    assert wrong == sorted((f"1.{minor}", flag) for minor in range(24, NEWEST[1] + 1)
                           if (1, minor) not in data.NOT_MEASURED for flag in ("--address", "--port")), found


def test_a_fact_that_dates_a_removal_wrongly_is_an_error(accepted: data.Accepted,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FEATURE_GATES, "SidecarContainers",
                        dataclasses.replace(FEATURE_GATES["SidecarContainers"], removed=(1, 36)))
    found = errors(check.check(accepted)[0])
    assert len(found) == 1 and found[0].startswith("1.36 kube-apiserver: SidecarContainers: the version facts say "
                                                   "1.36.3 lacks (removed in 1.36)"), found


def test_a_removal_the_facts_do_not_know_is_reported_and_the_newest_release_has_none(
        accepted: data.Accepted, monkeypatch: pytest.MonkeyPatch) -> None:
    notes = [f for f in check.check(accepted)[0] if not f.error and f.minor == NEWEST]
    assert notes == [], [str(f) for f in notes]
    monkeypatch.delitem(FEATURE_GATES, "APIServerTracing")  # removed in 1.37 (#138907)
    notes = [str(f) for f in check.check(accepted)[0] if not f.error and f.minor == (1, 37)]
    assert notes == ["1.37 kube-apiserver: APIServerTracing: feature gate dropped (last taken by 1.36), not in the "
                     "version facts"], notes


def test_the_committed_file_is_what_its_own_writer_writes(accepted: data.Accepted) -> None:
    assert data.dumps(accepted) == data.DATA.read_text()


def test_spans_survive_a_round_trip_with_gaps_and_open_ends() -> None:
    measured = [(1, 15), (1, 16), (1, 17), (1, 19), (1, 20)]
    for present in ([(1, 15), (1, 16)], [(1, 17), (1, 19), (1, 20)], [(1, 15), (1, 17)], [(1, 20)], [(1, 16)]):
        text = data.spans(present, measured)
        assert sorted(data.expand(text, measured)) == present, text
    assert data.spans([(1, 17), (1, 19), (1, 20)], measured) == "1.17-"  # 1.18 was not measured: one run
    assert data.spans([(1, 15), (1, 17)], measured) == "1.15,1.17"


# ----------------------------------------------------------------------------------- with the lab release's binaries

def bin_dir(release: Release) -> Path:
    path = kubebuild.release_dir(release) / "bin"
    if not (path.parent / "build.json").exists():
        pytest.fail(f"no binaries for {release.tag}: run `invoke kube-binaries --release {release}` (make test does)")
    return path


def test_measuring_the_lab_release_again_gives_what_is_committed(accepted: data.Accepted) -> None:
    minor = LAB_RELEASE.minor_version
    assert accepted.measured.get(minor) == LAB_RELEASE.tag, "the lab's release is not the one measured"
    before = data.Accepted(measured={m: t for m, t in accepted.measured.items() if m < minor},
                           names={k: v for k, v in accepted.names.items() if k[2] < minor})
    again = record.measure(LAB_RELEASE, bin_dir(LAB_RELEASE), before)
    for (daemon, kind), names in again.items():
        assert names == accepted.get(daemon, kind, minor), (daemon, kind, names ^ accepted.get(daemon, kind, minor))


def test_what_help_lists_and_what_probing_finds_is_what_the_binary_does(tmp_path: Path) -> None:
    binaries = bin_dir(LAB_RELEASE)
    listed = parse.parse(record.help_text(binaries / "kube-apiserver"))
    # every listed flag parses; a made-up one stops the binary with pflag's own words
    ok, output = probe.run(binaries / "kube-apiserver", ["--no-such-flag-anywhere=1"])
    assert not ok and "unknown flag: --no-such-flag-anywhere" in output
    for flag in ("--secure-port", "--etcd-servers", "--enable-admission-plugins"):
        assert flag in listed.flags
    assert "NodeRestriction" in listed.admission_plugins and "NoSuchPlugin" not in listed.admission_plugins
    assert "AllAlpha" in listed.feature_gates  # the pseudo-gate every release since 1.8 lists
    # a gate --help hides (GA, locked) is still taken; a made-up one is refused
    ok, output = probe.run(binaries / "kube-apiserver", ["--feature-gates=NoSuchGateAnywhere=true"])
    assert not ok and "unrecognized feature gate: NoSuchGateAnywhere" in output
    taken = probe.feature_gates(binaries / "kube-apiserver", {"NoSuchGateAnywhere", *FEATURE_GATES})
    assert "NoSuchGateAnywhere" not in taken
    assert taken == {g for g, span in FEATURE_GATES.items() if span.holds(LAB_RELEASE)}
