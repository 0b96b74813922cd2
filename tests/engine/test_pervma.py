"""The second design, per-VMA locks as 6.12 has them: the same catalogue explores clean, and
each of its mutants is caught (alone, or with the check that covers for it) or its registry
note says which race is missing from the catalogue."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from spfteach import resources
from spfteach.explore.mutants import UnknownMutant, names_of, validate
from spfteach.explore.search import explore
from spfteach.model.pervma import checks as PV
from spfteach.scenarios import SCENARIOS, get
from spfteach.scenarios.base import UnknownDesign

SPFTEACH = str(Path(sys.executable).parent / "spfteach")
DESIGNS = resources.read_json("designs.json")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_explores_clean_with_per_vma_locks(name: str) -> None:
    rep = explore(get(name).with_design("per-vma"))
    assert rep.complete and not rep.unmodelled, rep.unmodelled
    assert not rep.counterexamples, rep.as_dict()["counterexamples"]
    assert rep.deadlocks == 0 and rep.executions >= 1
    # spfteach/data/designs.json (the comparison notebook 08 shows) says the same
    assert DESIGNS["scenarios"][name]["per-vma"]["states"] == rep.states
    assert DESIGNS["scenarios"][name]["per-vma"]["clean"] is True


def _caught_by(mutants: list[str]) -> dict[str, list[str]]:
    """Per scenario the invariants the mutants break under per-VMA locks (clean ones left out)."""
    out = {}
    for name, scen in sorted(SCENARIOS.items()):
        rep = explore(scen.with_design("per-vma"), mutants)
        assert rep.complete and not rep.unmodelled, (name, rep.unmodelled)
        if rep.counterexamples:
            out[name] = sorted(rep.counterexamples)
    return out


#: The mutants the issue names, each of which a race of the catalogue must catch: a writer
#: without vma_start_write(), a reader without the sequence comparison (the pair), a reader
#: that ignores detached, vma_end_read() too early, a fault that goes on after VM_FAULT_RETRY.
MUST_CATCH = [["no_vma_start_write"], ["vma_lock_seq"], ["vma_lock_seq", "vma_lock_early_seq"],
              ["vma_lock_detached"], ["vma_end_read_early"], ["anon_prepare_vma_lock"],
              ["retry_goes_on"], ["vma_lock_range"]]


@pytest.mark.slow
@pytest.mark.parametrize("mutants", MUST_CATCH, ids=lambda m: "+".join(m))
def test_per_vma_mutant_is_caught(mutants: list[str]) -> None:
    caught = _caught_by(mutants)
    assert caught, f"{mutants}: no scenario of the catalogue catches it"
    if len(mutants) == 1:  # spfteach/data/designs.json's "relies on" column is exactly this
        claimed = {n for n, row in DESIGNS["scenarios"].items()
                   if mutants[0] in row["per-vma"]["relies_on"]}
        assert claimed == set(caught), "stale spfteach/data/designs.json: python -m " \
            "spfteach.explore.compare"


@pytest.mark.slow
def test_what_the_catalogue_does_not_catch_is_said() -> None:
    """Every other mutant is paired (its pair is in MUST_CATCH) or listed in NOT_CAUGHT with the
    race the catalogue lacks; and it really is not caught alone (else the registry lies)."""
    alone = {ms[0] for ms in MUST_CATCH if len(ms) == 1}
    for name in names_of("per-vma"):
        if name in alone:
            continue
        m = PV.MUTANTS[name]
        paired = getattr(m, "pair", ())
        assert paired or name in PV.NOT_CAUGHT, f"{name}: not in MUST_CATCH, no pair, no note"
        if paired:
            assert [*paired, name] in MUST_CATCH or [paired[0], name] in MUST_CATCH, name
        assert not _caught_by([name]), f"{name} is caught after all: update the registry"


def test_designs_do_not_touch_each_others_state() -> None:
    """Under the speculative design no step touches the VMA locks; under per-VMA locks no step
    moves a VMA's sequence count (the two designs share the machine, not its mechanisms)."""
    for name, scen in sorted(SCENARIOS.items()):
        for design in ("spf", "per-vma"):
            for seed in range(3):
                run = scen.with_design(design).new_run(record=False)
                rng = random.Random(seed)
                while run.runnable():
                    run.step(rng.choice(run.runnable()))
                k = run.machine
                if design == "spf":
                    assert k.mm.mm_lock_seq.sequence == 0, name
                    assert all(v.vm_lock_seq == -1 and not v.vm_lock.readers
                               for v in k.vmas.values()), name
                else:
                    assert all(v.vm_sequence.sequence % 2 == 0 for v in k.vmas.values()), name
                    assert all(v.vm_sequence.sequence == 0 for v in k.vmas.values()
                               if name != "seq-odd-at-start"), name


def test_a_mutant_of_the_other_design_is_refused() -> None:
    with pytest.raises(UnknownMutant, match="add --design per-vma"):
        validate("vma_lock_detached")
    with pytest.raises(UnknownMutant, match="add --design spf"):
        validate("spf_seq_retry", "per-vma")
    assert validate("vma_lock_detached", "per-vma") == "vma_lock_detached"
    with pytest.raises(UnknownDesign, match="use one of spf, per-vma"):
        get("quiet").with_design("per_vma")


def test_cli_explores_a_scenario_under_per_vma_locks() -> None:
    r = subprocess.run([SPFTEACH, "explore", "fault-vs-munmap", "--design", "per-vma"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(per-VMA locks, 6.12)" in r.stdout and "no invariant violated" in r.stdout
    r = subprocess.run([SPFTEACH, "explore", "fault-vs-munmap", "--design", "per-vma",
                        "--mutant", "vma_lock_detached"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "VIOLATION" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([SPFTEACH, "explore", "fault-vs-munmap", "--mutant",
                        "vma_lock_detached"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "add --design per-vma" in r.stderr


def test_the_comparison_agrees_with_the_spf_matrix_and_says_every_counterpart() -> None:
    """The SPF half of spfteach/data/designs.json is spfteach/data/mutants.json's (states and
    what each scenario catches), and every SPF mutant has its per-VMA counterpart, or the
    reason it needs none."""
    from spfteach.explore.compare import COUNTERPART, table
    from spfteach.explore.mutants import names
    recorded = resources.read_json("mutants.json")
    for name, row in DESIGNS["scenarios"].items():
        assert row["spf"]["states"] == recorded["scenarios"][name]["states"], name
        assert row["spf"]["relies_on"] == sorted(
            m for m, r in recorded["mutants"].items() if name in r["caught_by"]), name
    assert set(COUNTERPART) == set(names())
    for m, (other, why) in COUNTERPART.items():
        assert why and (not other or other in PV.MUTANTS), m
    assert DESIGNS["no_counterpart"] == {k: {"counterpart": v[0], "why": v[1]}
                                         for k, v in COUNTERPART.items()}
    text = table(DESIGNS)
    assert text.count("\n") == len(SCENARIOS) + 1 and "| two-faults-vs-munmap | 63344 |" in text
