"""The grading benchmark: ``make bench`` (or ``python -m spfteach.grading.bench``).

A class of generated submissions per assignment (reference answers and the
usual wrong ones, some handed in word for word by several students, most each
their own), autograded end to end with nbgrader's own command line, twice in
one run: with the jail, and with the baseline, the same judge with the
student's code in a plain child process (a fresh interpreter as the judge's
user, as the old worker ran it: no namespaces, no view, no uid of its own).
Seconds per submission and their ratio, per assignment and overall.  Then a
class of the target's size (200 students x every assignment) with the
jail, once.  Figures go to ``spfteach/data/grading-bench.json``; the table is printed.
Measures, does not assert: the targets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat

from .. import resources
from ..drills import predict
from . import exercises
from .nbgrader_plugin import Regrade, _is_grade_code, tasks_of
from .pool import key

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "notebooks" / "course"
ASSIGNMENTS = ("walk", "seqcount", "vma_has_changed", "break_it", "predict", "vma_locks")
#: Targets (the grading issue), printed beside the figures.
TARGET_RATIO = 1.5
TARGET_CLASS, TARGET_SECONDS = 200, 20 * 60.0


# --- the baseline ----------------------------------------------------------------------------

class UnconfinedRegrade(Regrade):
    """Regrade for the baseline run: its judge processes grade with
    :class:`~.baseline.Unconfined` (the course config of that run names this class)."""

    judge = ("spfteach.grading.baseline", "serve_unconfined")


# --- a class ---------------------------------------------------------------------------------

def _reader(body: str) -> str:
    return f"def read_snapshot(read_seq, read_a, read_b, retry):\n{body}\n"


def _vma(body: str) -> str:
    return f"def vma_has_changed(vm_sequence_now, seq_at_start, vm_detached):\n{body}\n"


SEQ = [_reader("    while True:\n        seq = read_seq()\n        if seq & 1:\n"
               "            continue\n        a = read_a()\n        b = read_b()\n"
               "        if not retry(seq):\n            return (a, b)"),
       _reader("    return (read_a(), read_b())"),
       _reader("    while True:\n        seq = read_seq()\n        a, b = read_a(), read_b()\n"
               "        if not retry(seq):\n            return (a, b)"),
       _reader("    while True:\n        if read_seq() & 1:\n            continue\n"
               "        return (read_a(), read_b())")]
VMA = [_vma("    return vm_detached or vm_sequence_now != seq_at_start"),
       _vma("    return vm_sequence_now != seq_at_start"),
       _vma("    return vm_detached or (vm_sequence_now & ~1) != (seq_at_start & ~1)"),
       _vma("    return False"), _vma("    return True")]
ORDERS = [["check_vma", "read_pmd", "pmd_same", "lockptr", "trylock", "recheck_vma"],
          ["read_pmd", "check_vma", "pmd_same", "lockptr", "trylock", "recheck_vma"],
          ["check_vma", "read_pmd", "pmd_same", "lockptr", "recheck_vma", "trylock"]]
WRITER_PICKS = [sorted(exercises.RELIED), [], list(exercises.WRITERS), ["mprotect", "split"]]
#: vma_locks: the reference, none, every writer, the speculative fault's answer copied
LOCK_PICKS = [sorted(exercises.VMA_LOCK_RELIED), [], list(exercises.VMA_LOCK_WRITERS),
              sorted(exercises.RELIED)]
WALK_MISTAKES: list[Callable[[int, int | None], int | None]] = [
    lambda a, v: v, lambda a, v: v if v is None else v & ~0xFFF,
    lambda a, v: v if v is None else v >> 12, lambda a, v: None]


def answers_for(assignment: str, n: int) -> dict[str, str]:
    """Student ``n``'s answer cells (grade_id -> source): every second student gives the
    reference, the others a wrong answer in turn; one in three hands in a copy word for
    word, the others add a line of their own (so the class has both)."""
    sid = student(n)
    own = "" if n % 3 == 0 else f"# {sid}'s answer\n"

    def pick(options: list) -> object:  # the reference ([0]) for even n, a mistake for odd
        return options[0] if n % 2 == 0 else options[1 + (n // 2) % (len(options) - 1)]
    if assignment == "seqcount":
        return {"seq-answer": own + str(pick(SEQ))}
    if assignment == "vma_has_changed":
        return {"vma-answer": own + str(pick(VMA)), "order-answer": f"ORDER = {pick(ORDERS)!r}\n",
                "writers-answer": f"WRITERS = {pick(WRITER_PICKS)!r}\n"}
    if assignment == "vma_locks":
        return {"locks-answer": own + f"WRITERS = {pick(LOCK_PICKS)!r}\n"}
    if assignment == "walk":
        mistake = pick(WALK_MISTAKES)
        lines = [f"    qs[{i}]: {mistake(a, exercises.walk_expected(sid, a))!r},"  # type: ignore
                 for i, a in enumerate(exercises.walk_questions(sid))]
        return {"walk-answer": own + "answers = {\n" + "\n".join(lines) + "\n}\n"}
    if assignment == "predict":
        right = [(predict.outcome(p).first, predict.outcome(p).returns)
                 for p in exercises.predict_problems(sid)]
        guess = pick([right, [("completes", "0")] * 3, right[1:] + right[:1]])
        return {"predict-answer": own + f"PREDICTIONS = {guess!r}\n"}
    mutant, scen = exercises.break_problem(sid)
    sched = str(pick([_reference_schedule(mutant, scen), "0*,1*", "1*,0*"]))
    return {"break-answer": own + f"scenario = {scen!r}\nschedule = {sched!r}\n"}


@functools.cache
def _reference_schedule(mutant: str, scenario: str) -> str:
    """The explorer's shortest counterexample (the instructor's reference)."""
    from ..explore.search import explore
    from ..scenarios import get
    from ..sched import format_schedule

    found = explore(get(scenario), mutants=[mutant]).counterexamples.values()
    return format_schedule(min(found, key=lambda c: len(c.schedule)).schedule)


def student(n: int) -> str:
    return f"student-{n:03d}"


def write_class(root: Path, size: int, jailed: bool) -> dict[str, int]:
    """A copy of the course at ``root`` with ``size`` submissions per assignment; the
    number of distinct gradings per assignment."""
    shutil.copytree(COURSE, root)
    if not jailed:
        with open(root / "nbgrader_config.py", "a") as f:
            f.write("\n# The grading benchmark's baseline: the student's code in a plain child "
                    "process.\nfrom spfteach.grading.bench import UnconfinedRegrade  # noqa: E402"
                    "\n\nc.Autograde.autograde_preprocessors = [\n"
                    "    UnconfinedRegrade if p is nbgrader_plugin.Regrade else p\n"
                    "    for p in c.Autograde.autograde_preprocessors]\n")
    for a in ASSIGNMENTS:
        _nbgrader(root, "generate_assignment", a, "--force")
    distinct = {}
    for a in ASSIGNMENTS:
        release = nbformat.read(root / "release" / a / f"{a}.ipynb", as_version=4)
        source = nbformat.read(root / "source" / a / f"{a}.ipynb", as_version=4)
        grade_cells = [c for c in source.cells if _is_grade_code(c)]
        keys = set()
        for n in range(size):
            nb = nbformat.from_dict(json.loads(json.dumps(release)))
            given = answers_for(a, n)
            for c in nb.cells:
                gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid in given:
                    c.source = given[gid]
            dest = root / "submitted" / student(n) / a / f"{a}.ipynb"
            dest.parent.mkdir(parents=True)
            nbformat.write(nb, dest)
            keys |= {key(*t) for t in tasks_of(nb, grade_cells, student(n))
                     if not isinstance(t, str)}
        distinct[a] = len(keys)
    return distinct


def _nbgrader(root: Path, *args: str) -> float:
    """Run nbgrader in ``root``; its wall-clock seconds."""
    binary = Path(sys.executable).parent / "nbgrader"
    env = dict(os.environ, PATH=f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("NBGRADER_EXECUTION", None)
    t0 = time.perf_counter()
    r = subprocess.run([str(binary), *args], cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{(r.stdout + r.stderr)[-3000:]}")
    return seconds


def autograde(root: Path) -> dict[str, float]:
    return {a: _nbgrader(root, "autograde", a, "--force") for a in ASSIGNMENTS}


def _scores(root: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for a in ASSIGNMENTS:
            out[a] = sum(s.score for s in gb.assignment_submissions(a))
    return out


def bench(size: int, big: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="spfteach-grading-bench-") as tmp:
        jail_root, base_root = Path(tmp) / "jail", Path(tmp) / "baseline"
        distinct = write_class(jail_root, size, jailed=True)
        write_class(base_root, size, jailed=False)
        jail_s, base_s = {}, {}
        for i, a in enumerate(ASSIGNMENTS):  # interleaved, each first in turn
            runs = [(base_s, base_root), (jail_s, jail_root)]
            for secs, root in runs if i % 2 == 0 else runs[::-1]:
                secs[a] = _nbgrader(root, "autograde", a, "--force")
        same = _scores(jail_root) == _scores(base_root)
        rows = {a: {"submissions": size, "distinct": distinct[a],
                    "jail_seconds_per_submission": round(jail_s[a] / size, 4),
                    "baseline_seconds_per_submission": round(base_s[a] / size, 4),
                    "ratio": round(jail_s[a] / base_s[a], 3)} for a in ASSIGNMENTS}
        total_j, total_b = sum(jail_s.values()), sum(base_s.values())
        result: dict = {"class_size": size, "assignments": rows,
                        "jail_seconds_per_submission": round(total_j / (len(ASSIGNMENTS) * size),
                                                             4),
                        "baseline_seconds_per_submission": round(total_b / (len(ASSIGNMENTS)
                                                                            * size), 4),
                        "ratio": round(total_j / total_b, 3), "same_scores": same,
                        "judge_processes": os.cpu_count()}
        if big:
            big_root = Path(tmp) / "big"
            big_distinct = write_class(big_root, big, jailed=True)
            secs = autograde(big_root)
            result["big_class"] = {"students": big, "submissions": len(ASSIGNMENTS) * big,
                                   "distinct": sum(big_distinct.values()),
                                   "seconds": round(sum(secs.values()), 1),
                                   "per_assignment_seconds": {a: round(s, 1)
                                                              for a, s in secs.items()}}
    return result


def table(r: dict) -> str:
    lines = [f"grading: a class of {r['class_size']} per assignment, `nbgrader autograde` end "
             f"to end, {r['judge_processes']} judge processes; s/submission",
             f"{'assignment':16} {'subs':>5} {'distinct':>8} {'jail':>8} {'baseline':>9} "
             f"{'ratio':>6}"]
    for a, row in r["assignments"].items():
        lines.append(f"{a:16} {row['submissions']:5} {row['distinct']:8} "
                     f"{row['jail_seconds_per_submission']:8.3f} "
                     f"{row['baseline_seconds_per_submission']:9.3f} {row['ratio']:6.2f}")
    lines.append(f"{'all':16} {len(ASSIGNMENTS) * r['class_size']:5} {'':8} "
                 f"{r['jail_seconds_per_submission']:8.3f} "
                 f"{r['baseline_seconds_per_submission']:9.3f} {r['ratio']:6.2f}")
    met = "met" if r["ratio"] <= TARGET_RATIO else "NOT met"
    lines.append(f"target: the jail costs at most {TARGET_RATIO}x the baseline: "
                 f"{r['ratio']:.2f}x ({met}); same scores both ways: {r['same_scores']}")
    big = r.get("big_class")
    if big:
        met = "met" if big["seconds"] < TARGET_SECONDS else "NOT met"
        lines.append(f"a class of {big['students']} x {len(ASSIGNMENTS)} assignments "
                     f"({big['submissions']} "
                     f"submissions, {big['distinct']} distinct gradings) with the jail: "
                     f"{big['seconds']:.0f} s (target < {TARGET_SECONDS:.0f} s: {met})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m spfteach.grading.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--class-size", type=int, default=50,
                   help="submissions per assignment, graded both ways (default 50)")
    p.add_argument("--big-class", type=int, default=TARGET_CLASS,
                   help=f"students of the target's class, graded with the jail once (default "
                        f"{TARGET_CLASS}; 0: skip)")
    p.add_argument("--out", type=Path,
                   help="where the figures go (default: the checkout's "
                        "spfteach/data/grading-bench.json)")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = resources.checkout_data_or_exit(p.prog) / "grading-bench.json"
    if args.class_size < 1 or args.big_class < 0:
        p.error("--class-size must be 1 or more and --big-class 0 or more")
    from .jail import JailUnavailable, probe

    try:
        probe()
    except JailUnavailable as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    r = bench(args.class_size, args.big_class)
    r["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    r["load_average"] = os.getloadavg()[0]
    print(table(r))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
