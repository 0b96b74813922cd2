"""The model is held to the C: every Src resolves to one line of the port.

Needs the patched tree (`spfteach kernel fetch` makes it: Debian's
linux-source-6.1 with kernel/patches applied), so it runs with the kernel tests.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from spfteach.csource.csrc import (
    SrcError,
    code_only,
    function_body,
    model_sources,
    resolve,
    visit_order_errors,
)
from spfteach.model import checks


def test_resolver_finds_functions_and_refuses_ambiguity(tmp_path: Path) -> None:
    c = tmp_path / "mm" / "x.c"
    c.parent.mkdir()
    c.write_text("static int\nfoo(int a);\nstatic int\nfoo(int a)\n{\n\tlock();\n"
                 "\tlock();\nout:\n\tlock();\n}\nint bar(void)\n{\n\treturn 0;\n}\n")
    assert [n for n, _ in function_body(c, "foo")] == list(range(4, 11))
    from spfteach.model.task import Src
    with pytest.raises(SrcError, match="on 3 lines"):
        resolve(Src("mm/x.c", "foo", "lock();"), tmp_path)
    assert resolve(Src("mm/x.c", "foo", "lock();", after="out:"), tmp_path).line == 9
    assert resolve(Src("mm/x.c", "bar", "return 0;"), tmp_path).line == 13
    with pytest.raises(SrcError, match="no definition of baz"):
        resolve(Src("mm/x.c", "baz", "x"), tmp_path)


def test_model_sources_are_found() -> None:
    srcs = model_sources()
    assert {c.src for c in checks.CHECKS} <= srcs
    assert len(srcs) > 100


@pytest.mark.kernel
def test_the_shipped_c_excerpts_are_the_patched_tree(kernel_tree: Path) -> None:
    """spfteach/data/c-excerpts.json, which the widgets show with no tree, is what the patched
    tree gives, byte for byte: the excerpts cannot drift from the C."""
    from spfteach.csource import excerpts
    diffs = excerpts.differences(kernel_tree)
    assert not diffs, ("spfteach/data/c-excerpts.json is not the patched tree's; run `python -m "
                       "spfteach.csource.excerpts` and commit it:\n" + "\n".join(diffs))


@pytest.mark.kernel
def test_every_model_snippet_resolves_to_one_line_of_the_port(kernel_tree: Path) -> None:
    errors = []
    for src in sorted(model_sources(), key=lambda s: (s.file, s.function, s.snippet)):
        try:
            resolve(src, kernel_tree)
        except SrcError as e:
            errors.append(str(e))
    assert not errors, f"{len(errors)} model snippets do not resolve:\n" + "\n".join(errors)


def test_snippets_never_match_inside_a_comment(tmp_path: Path) -> None:
    from spfteach.model.task import Src
    c = tmp_path / "mm" / "y.c"
    c.parent.mkdir()
    c.write_text("int f(void)\n{\n\t/*\n\t * lock(); is called below\n\t */\n"
                 "\tlock(); // and lock(); here\n\tputs(\"/* lock(); */\");\n}\n")
    body = function_body(c, "f")
    assert [t.strip() for _, t in code_only(body)][3:7] == ["", "", "lock();",
                                                            'puts("/* lock(); */");']
    # the string literal holds "lock();" too: two lines of code, not one
    with pytest.raises(SrcError, match="on 2 lines of code"):
        resolve(Src("mm/y.c", "f", "lock();"), tmp_path)
    assert resolve(Src("mm/y.c", "f", "lock();", after="{"), tmp_path).line == 6
    with pytest.raises(SrcError, match="holds a comment"):
        resolve(Src("mm/y.c", "f", "lock(); /* x */"), tmp_path)
    with pytest.raises(SrcError, match="anchor 'is called below' is on 0 lines"):
        resolve(Src("mm/y.c", "f", "lock();", after="is called below"), tmp_path)


def test_visit_order_finds_a_step_back() -> None:
    from spfteach.model.task import Src
    a, b, c = (Src("mm/m.c", "f", s) for s in ("a", "b", "c"))
    g = Src("mm/m.c", "g", "x")
    assert visit_order_errors([(a, 1), (b, 2), (g, 50), (c, 3)]) == []
    assert visit_order_errors([(a, 1), (c, 3), (g, 50), (b, 2)])  # back to line 2 in f


def _traces(runs_per_scenario: int = 30):
    """Per thread, the Srcs a run visits: every scenario under seeded random
    schedules, unmutated and under each mutant's counterexample."""
    from spfteach.scenarios import SCENARIOS
    for scen in SCENARIOS.values():
        for seed in range(runs_per_scenario):
            rng = random.Random(seed)
            run = scen.new_run()
            while run.runnable():
                run.step(rng.choice(run.runnable()))
            for t in run.tasks:
                yield scen.name, [s.src for s in run.trace if s.tid == t.tid]


@pytest.mark.kernel
def test_model_visits_the_c_lines_in_their_order(kernel_tree: Path) -> None:
    """Within one call of a C function, the lines a thread visits go forward in the
    function's text, except where the C loops or is called again (csrc.BACKWARD_OK)."""
    lines: dict = {}
    errors = set()
    for scen, srcs in _traces():
        steps = []
        for src in srcs:
            if src not in lines:
                lines[src] = resolve(src, kernel_tree).line
            steps.append((src, lines[src]))
        errors |= {f"{scen}: {e}" for e in visit_order_errors(steps)}
    assert not errors, "\n".join(sorted(errors))


def _per_vma_traces(runs_per_scenario: int = 20):
    """Per thread, every Src a run under per-VMA locks visits (seeded random schedules)."""
    from spfteach.scenarios import SCENARIOS
    for scen in SCENARIOS.values():
        scen = scen.with_design("per-vma")
        for seed in range(runs_per_scenario):
            rng = random.Random(seed)
            run = scen.new_run()
            while run.runnable():
                run.step(rng.choice(run.runnable()))
            for t in run.tasks:
                yield scen.name, [s.src for s in run.trace if s.tid == t.tid]


@pytest.mark.kernel
def test_the_shipped_612_excerpts_are_debians_tree(kernel_tree_612: Path) -> None:
    """spfteach/data/c-excerpts-6.12.json, the per-VMA design's C for the steppers, is what Debian's
    linux-source-6.12 gives, byte for byte, and every per-VMA step resolves to one line of it:
    the design's own steps and the port's shared steps (spfteach.model.pervma.lines), all but
    the port lines pervma.lines.KEPT keeps for want of a 6.12 line."""
    from spfteach.csource import excerpts
    from spfteach.csource.csrc import per_vma_steps
    from spfteach.model.pervma.lines import KEPT
    diffs = excerpts.differences(kernel_tree_612, excerpts.DATA_612, per_vma=True)
    assert not diffs, ("spfteach/data/c-excerpts-6.12.json is not the 6.12 tree's; run `python -m "
                       "spfteach.csource.excerpts --per-vma` and commit it:\n" + "\n".join(diffs))
    steps = per_vma_steps()
    assert {s for s in steps if s.tree != "6.12"} == set(KEPT), "only KEPT may name the port"
    errors = []
    for src in sorted((s for s in steps if s.tree == "6.12"),
                      key=lambda s: (s.file, s.function, s.snippet, s.after)):
        try:
            resolve(src, kernel_tree_612)
        except SrcError as e:
            errors.append(str(e))
    assert len(steps) >= 150 and not errors, "\n".join(errors)


@pytest.mark.kernel
def test_per_vma_visits_the_612_lines_in_their_order(kernel_tree_612: Path) -> None:
    """Under per-VMA locks every step of a thread names a 6.12 line (but the port lines
    pervma.lines.KEPT keeps), and a thread visits the lines of a function forward in one call,
    as the port's lines are held above."""
    from spfteach.model.pervma.lines import KEPT
    lines: dict = {}
    errors = set()
    for scen, srcs in _per_vma_traces():
        steps = []
        for src in srcs:
            if src.tree != "6.12":
                if src not in KEPT:
                    errors.add(f"{scen}: {src.file}:{src.function}(): {src.snippet!r} names "
                               "the port, not 6.12 (spfteach/model/pervma/lines.py)")
                continue
            if src not in lines:
                lines[src] = resolve(src, kernel_tree_612).line
            steps.append((src, lines[src]))
        errors |= {f"{scen}: {e}" for e in visit_order_errors(steps)}
    assert len(lines) >= 150 and not errors, "\n".join(sorted(errors))
