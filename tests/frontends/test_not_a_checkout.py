"""The developer tools that rewrite the shipped data write into a checkout's spfteach/data/
(git shows the change); in a package installed without one (a wheel) each says so in one line
and exits 2, before its work (here a trap)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from spfteach import resources


def _trap(*args: object, **kwargs: object) -> None:
    raise AssertionError("the tool started its work before refusing")


def _explore_bench(mp: pytest.MonkeyPatch) -> Callable[[], int]:
    from spfteach.explore import bench
    mp.setattr(bench, "bench", _trap)
    return lambda: bench.main([])


def _compare(mp: pytest.MonkeyPatch) -> Callable[[], int]:
    from spfteach.explore import compare
    mp.setattr(compare, "build", _trap)
    return lambda: compare.main([])


def _against(mp: pytest.MonkeyPatch) -> Callable[[], int]:
    from spfteach.explore import against
    mp.setattr(against, "compare", _trap)
    return lambda: against.main(["HEAD"])


def _widgets_bench(mp: pytest.MonkeyPatch) -> Callable[[], int]:
    from spfteach.widgets import bench
    mp.setattr(bench, "measure", _trap)
    return lambda: bench.main([])


def _grading_bench(mp: pytest.MonkeyPatch) -> Callable[[], int]:
    from spfteach.grading import bench
    mp.setattr(bench, "bench", _trap)
    return lambda: bench.main([])


def _excerpts(mp: pytest.MonkeyPatch) -> Callable[[], int]:
    from spfteach.csource import excerpts
    mp.setattr(excerpts, "write", _trap)
    return lambda: excerpts.main(["/nonexistent-tree"])


def _subjects(mp: pytest.MonkeyPatch) -> Callable[[], int]:
    from spfteach.kernel import subjects
    mp.setattr(subjects, "dumps", _trap)
    return lambda: subjects.main(["--write"])


TOOLS = {"python -m spfteach.explore.bench": _explore_bench,
         "python -m spfteach.explore.compare": _compare,
         "python -m spfteach.explore.against": _against,
         "python -m spfteach.widgets.bench": _widgets_bench,
         "python -m spfteach.grading.bench": _grading_bench,
         "spfteach.csource.excerpts": _excerpts,
         "python -m spfteach.kernel.subjects": _subjects}


@pytest.mark.parametrize("prog", sorted(TOOLS))
def test_a_writer_without_a_checkout_says_so_and_exits_2(
        prog: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    main = TOOLS[prog](monkeypatch)
    monkeypatch.setattr(resources, "checkout", lambda: None)
    try:
        status = main()
    except SystemExit as e:
        status = e.code
    assert status == 2
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{prog}: error: "), err
    assert "checkout" in err[0] and "installed" in err[0]


def test_in_a_checkout_the_writers_write_the_checkouts_copy() -> None:
    root = resources.checkout()
    assert root is not None
    assert resources.checkout_data("x") == root / "spfteach" / "data"
    assert resources.files().joinpath("mutants.json").is_file()
