"""A verdict is earned: only a modelled oops is an oops, a bug in the model is a model
error (exit 3), mutants are registry objects, state keys do not depend on names,
and the exit statuses scripts and the grader rely on."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from spfteach import cli
from spfteach.explore.search import explore
from spfteach.explore.statekey import thread_key
from spfteach.model import checks
from spfteach.model.bug import oops
from spfteach.model.machine import Machine
from spfteach.model.task import Src
from spfteach.scenarios import SCENARIOS
from spfteach.scenarios.base import Scenario
from spfteach.sched import ModelError, Run
from tests.paths import ROOT

SPFTEACH = str(Path(sys.executable).parent / "spfteach")
MODEL = ROOT / "spfteach" / "model"
S = Src("tests", "prog", "x")


def _scenario(name: str, body) -> Scenario:
    """A one-thread scenario whose program is ``body(t)`` after one step."""
    def build(k: Machine):
        t = k.add_task("prog")

        def prog(t=t):
            yield t.at(S)
            body(t)
            yield t.at(S)
        return [(t, prog())]
    return Scenario(name, name, "a test", (), build, ncpus=1)


def test_a_python_exception_in_the_model_is_a_model_error_not_an_oops() -> None:
    scen = _scenario("raises", lambda t: {}[0])
    with pytest.raises(ModelError, match=r"not a verdict.*KeyError: 0.*schedule 0"):
        explore(scen)
    run = scen.new_run()
    with pytest.raises(ModelError):
        run.step(0)
    assert not run.machine.violations


def test_a_modelled_oops_is_a_verdict() -> None:
    scen = _scenario("oopses", lambda t: oops("BUG_ON(x) in the test"))
    rep = explore(scen)
    assert set(rep.counterexamples) == {"oops"}
    assert "BUG_ON(x) in the test" in rep.counterexamples["oops"].message
    run = scen.new_run().finish()
    assert run.results[0] == "oops" and run.violations[0].invariant == "oops"


def test_unknown_mutant_is_an_error_where_it_is_made() -> None:
    with pytest.raises(checks.UnknownCheck, match="unknown mutant 'no_such_check'"):
        Machine(mutants=["no_such_check"])
    with pytest.raises(checks.UnknownCheck, match="branch of the normal path"):
        Machine(mutants=["spf_pte_none"])
    k = Machine(mutants=["trylock_is_lock"])
    assert k.mutated(checks.TRYLOCK_IS_LOCK) and not k.mutated(checks.SPF_SEQ_ODD)
    with pytest.raises(TypeError):
        k.mutated("trylock_is_lock")  # type: ignore[arg-type]


def _mutant_tests_by_string(tree: ast.AST) -> list[str]:
    """String constants that model code tests against a run's mutants: ``"x" in
    k.mutants``, ``k.mutated("x")``, ``t.check("x", ...)``, ``t.branch("x", ...)``."""
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and \
                isinstance(node.left.value, str) and any(
                    "mutants" in ast.unparse(c) for c in node.comparators):
            bad.append(ast.unparse(node))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("mutated", "check", "branch") and node.args and \
                isinstance(node.args[0], ast.Constant | ast.JoinedStr):
            bad.append(ast.unparse(node))
    return bad


def test_model_code_never_tests_a_mutant_by_string() -> None:
    bad = {p.name: _mutant_tests_by_string(ast.parse(p.read_text()))
           for p in MODEL.glob("*.py")}
    assert not {k: v for k, v in bad.items() if v}
    # the detector itself finds the forms it looks for
    sample = ast.parse('if "trylock_is_lock" in k.mutants: pass\n'
                       't.check("spf_seq_odd", True)\nk.mutated("x")\n')
    assert len(_mutant_tests_by_string(sample)) == 3


def test_state_key_keeps_a_stateful_local_whatever_its_name() -> None:
    """Locals are left out by what they are (the kernel), never by their name:
    a counter called ``t`` or ``k`` is state."""
    k = Machine(ncpus=1)
    task = k.add_task("x")

    def prog():
        for t in range(3):  # noqa: B007 - the loop variable *is* the state
            kk = k  # the shared kernel: a constant in the key
            yield task.at(S)
            del kk

    g = prog()
    next(g)
    first = thread_key(task, g, None, False)
    next(g)
    assert thread_key(task, g, None, False) != first


def test_exit_statuses() -> None:
    def status(*args: str) -> int:
        return subprocess.run([SPFTEACH, *args], capture_output=True, text=True,
                              timeout=300).returncode

    assert status("explore", "quiet") == 0
    assert status("explore", "fault-vs-munmap", "--mutant", "hpf_vma_changed") == 1
    assert status("step", "quiet") == 0
    assert status("step", "ipi-vs-ptl", "--schedule",
                  _shortest("ipi-vs-ptl", "trylock_is_lock", "deadlock"), "--mutant",
                  "trylock_is_lock") == 1
    assert status("explore", "no-such-scenario") == 2
    assert status("step", "quiet", "--mutant", "nope") == 2


def test_model_error_exits_3_with_one_line(monkeypatch, capsys) -> None:
    monkeypatch.setitem(SCENARIOS, "broken", _scenario("broken", lambda t: {}[0]))
    for cmd in (["explore", "broken"], ["step", "broken"]):
        assert cli.main(cmd) == 3
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "model error (a bug in spfteach, not a verdict)" in err[0]


def test_step_prints_the_violation_at_its_step() -> None:
    r = subprocess.run([SPFTEACH, "step", "fault-vs-munmap", "--mutant", "hpf_vma_changed",
                        "--schedule", _shortest("fault-vs-munmap", "hpf_vma_changed")],
                       capture_output=True, text=True, timeout=300)
    lines = r.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "!! VIOLATION use-after-free" in line)
    summary = next(i for i, line in enumerate(lines) if line.startswith("schedule:"))
    assert at < summary  # printed with its step, before the summary


def _shortest(scen: str, mutant: str, invariant: str = "use-after-free") -> str:
    from spfteach.sched import format_schedule
    rep = explore(SCENARIOS[scen], [mutant])
    return format_schedule(rep.counterexamples[invariant].schedule)


def test_finished_run_is_not_called_a_deadlock() -> None:
    run = SCENARIOS["quiet"].new_run().finish()
    assert isinstance(run, Run)
    with pytest.raises(Exception, match="every thread has finished") as e:
        run.step(0)
    assert "deadlock" not in str(e.value)
