"""The ``spfteach`` command: step races, drill page-table walks, list the checks.

Every mistake a user can make is answered with one line that says what to do,
and exit status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import re
import sys
import textwrap

from .model.pgtable import FLAGS_LEGEND

#: ``explore.search.SEARCHES``, spelt out so that building the parser imports no
#: explorer (tests/frontends/test_cli.py checks that the two agree)
SEARCH_CHOICES = ("memo", "sleep-sets", "state-caching")

# The engine is imported when a command needs it (below), not here: `spfteach
# kernel ...` and `--help` start faster, and a Ctrl-C while it loads is handled.

DESCRIPTION = """\
Learn the Linux speculative page fault (SPF) by stepping through it.

A speculative fault handles a user page fault without taking mmap_lock: it
looks the VMA up without the lock, samples the VMA's sequence count, walks the
page tables with interrupts off and, before it installs the PTE, checks that
nothing changed.  Each command below shows one side of that.
"""

FLAGS_HELP = f"PTE flags print as four letters, WAD- for example: {FLAGS_LEGEND}."

EPILOG = """\
examples:
  spfteach scenarios                         the race set-ups you can step
  spfteach step fault-vs-munmap              run it, thread 0 first
  spfteach step fault-vs-munmap --schedule 0*31,1*,0*
                                             fault until just before pte_map_lock,
                                             then all of munmap, then the fault again
  spfteach walk 0x7f0000001234 --seed 3      a page-table walk drill
  spfteach walk random --seed 3 --solve      ...with its answer
  spfteach predict --seed 3                  three races: what happens first?
  spfteach checks                            every check of the speculative path, and why
"""


#: Exit statuses, as model checkers use them (scripts and the grader rely on them).
EXIT_CLEAN, EXIT_VIOLATION, EXIT_USAGE, EXIT_MODEL_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UserError(Exception):
    """A mistake in what the user asked; shown as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (try: {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="spfteach", description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)

    sc = sub.add_parser("scenarios", help="list the scenarios (race set-ups) you can step",
                        description="List the scenarios: who runs, what it teaches, which "
                                    "checks it shows at work, and named example schedules.")
    sc.add_argument("--json", action="store_true",
                    help="print a JSON list (name, title, threads, thread_descriptions, "
                         "teaches, checks, schedules)")

    st = sub.add_parser(
        "step", help="run a scenario under a schedule and print its trace",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent("""\
            Run SCENARIO one step at a time and print the trace: one line per step with
            the thread, the C function and statement it executed, what happened, and
            what changed in the shared state.

            A schedule lists thread ids, one per step: 0,0,1 runs two steps of thread 0
            then one of thread 1.  N*K is K steps of thread N; N* runs thread N until it
            finishes or blocks.  When the schedule ends, the lowest-numbered runnable
            thread runs until all are done.  A scenario's named schedules (see
            `spfteach scenarios`) can be given by name.

            Each step shows: its number, the thread (T0, T1, ...), the C function and
            statement, what it did ("reads ..." for a read), the checks evaluated on
            the way (a guard "passes" or "aborts with VM_FAULT_RETRY"; a branch says
            which way it went; a check a mutant removed says what it would have done),
            and what changed in the shared state (vma0.vm_sequence 0→1).  """ + FLAGS_HELP + """
            A broken invariant is printed with the step that broke it.

            Exit status: 0 no invariant broken, 1 an invariant broken or a deadlock,
            2 bad input, 3 a bug in spfteach itself (a model error)."""))
    st.add_argument("scenario", metavar="SCENARIO")
    st.add_argument("--schedule", default="", metavar="SCHED",
                    help="e.g. 0,0,1 or 0*24,1*,0* or a named schedule of the scenario")
    st.add_argument("--state", action="store_true",
                    help="print the full shared state after the last step")
    st.add_argument("--mutant", action="append", default=[], metavar="NAME",
                    help="switch a check off (see `spfteach mutants`); repeatable")
    _design_option(st)

    cmp = sub.add_parser(
        "compare", help="the two designs side by side: what each scenario relies on "
                        "under SPF and under per-VMA locks (data/designs.json)")
    cmp.add_argument("--json", action="store_true", help="the whole record as JSON")

    ex = sub.add_parser(
        "explore", help="run every schedule of a scenario and check the invariants",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent("""\
            Explore all schedules of SCENARIO and check the invariants as it goes.  For
            each violated invariant it prints the shortest schedule that breaks it, to
            replay with `spfteach step SCENARIO --schedule ... --mutant ...`.

            The words of the report:
              complete executions  runs that went to the end: every thread finished, or
                                   none could move (a deadlock), or an invariant broke
              pruned               runs cut short because they reached a state already
                                   explored (the shared state and every thread's place
                                   and locals equal): what can follow was seen already;
                                   or because every step left commutes with one taken
                                   from an earlier state (sleep sets: the other order
                                   reaches the same states and was explored)
              distinct states      states the search visited once each
              blocked states       states where some thread was waiting (for a lock,
                                   for an IPI answer) while another could run
              outcome              how the threads ended, one line per combination:
                                   T0 fault: 0 (handled) means thread 0's fault returned
                                   0, i.e. the page fault was handled

            Exit status: 0 no invariant broken, 1 an invariant broken or a deadlock,
            2 bad input, 3 a bug in spfteach itself (a model error), 130 interrupted."""))
    ex.add_argument("scenario", metavar="SCENARIO")
    ex.add_argument("--mutant", action="append", default=[], metavar="NAME",
                    help="switch a check off (repeatable)")
    _design_option(ex)
    ex.add_argument("--json", action="store_true", help="print the report as JSON")
    ex.add_argument("--search", choices=SEARCH_CHOICES, default="memo",
                    help="memo (default): the state cache with a partial-order reduction "
                         "from the footprints recorded as the steps run, running each "
                         "distinct step once and looking up its effect after; sleep-sets: the "
                         "same, running every step; state-caching: the state cache alone (same "
                         "verdicts, more steps)")

    mu = sub.add_parser(
        "mutants", help="every check switched off in turn: which scenario catches it",
        description="The matrix of mutants x scenarios: each mutant is the speculative path "
                    "with one check switched off; a scenario catches it when exploring it "
                    "breaks an invariant. Every scenario is also explored unmutated (it must "
                    "be clean). Takes a minute or two; uses every core.")
    mu.add_argument("--json", action="store_true", help="print the matrix as JSON")
    mu.add_argument("--mutant", action="append", default=None, metavar="NAME",
                    help="only these mutants (repeatable)")
    mu.add_argument("--scenario", action="append", default=None, metavar="NAME",
                    help="only these scenarios (repeatable)")

    from .kernel import add_subparser as add_kernel

    add_kernel(sub)

    from .hub.cli import add_subparser as add_hub

    add_hub(sub)

    wk = sub.add_parser(
        "walk", help="page-table walk drill: split an address, follow the walk",
        description="A seeded memory map; the address split into its index fields, then the "
                    "walk level by level. The translation is shown with --solve.")
    wk.add_argument("address", metavar="ADDRESS",
                    help="a user virtual address (0x7f0000001234), or 'random'")
    wk.add_argument("--seed", type=_seed, default=0, help="problem number (default 0)")
    wk.add_argument("--solve", action="store_true", help="show the translation")

    pr = sub.add_parser(
        "predict", help="predict drill: a race, a schedule, maybe a mutant: what happens first?",
        description="Three seeded problems, each a race, a schedule and maybe a mutant. "
                    "Predict what happens first to the speculative fault (it completes, a check "
                    "fires: its name, or an invariant breaks: its name) and what "
                    "handle_speculative_fault() returns (0, VM_FAULT_RETRY, VM_FAULT_SIGSEGV, "
                    "or nothing: the kernel oopsed). --solve shows what happened.")
    pr.add_argument("--seed", type=_seed, default=0, help="problem number (default 0)")
    pr.add_argument("--solve", action="store_true", help="show what happens, with the steps")

    gr = sub.add_parser("grading", help="the grader: is its jail available here, and what "
                                        "it allows",
                        description="The grader runs a student's answer in a jail (bubblewrap: "
                                    "namespaces, a read-only view of the interpreter, limits).")
    gsub = gr.add_subparsers(dest="grading_cmd", metavar="WHAT", parser_class=_Parser)
    gsub.add_parser("jail", help="start the jail once and print what it allows, or say in one "
                                 "line what this machine lacks (exit 2)")
    rp = gsub.add_parser("report", help="a class report from an autograded course: scores per "
                                        "part, the most common wrong outcomes, who to talk to",
                         description="Read COURSE_DIR's gradebook and autograded notebooks; print "
                                     "the report and draw it (--png).")
    rp.add_argument("course", metavar="COURSE_DIR", help="the nbgrader course directory")
    rp.add_argument("--png", metavar="PATH", help="also draw the scores per part into PATH")

    ck = sub.add_parser("checks", help="every check of the speculative path and why it exists",
                        description="The registry of checks: name, C function and statement, "
                                    "what happens when it fires, and why it is needed.")
    ck.add_argument("--json", action="store_true", help="print a JSON list")
    return p


# --- commands -------------------------------------------------------------------


def scenario_json(s) -> dict[str, object]:  # noqa: ANN001 - a Scenario
    return {"name": s.name, "title": s.title, "threads": len(s.threads),
            "thread_descriptions": list(s.threads), "teaches": s.teaches,
            "checks": list(s.checks), "schedules": dict(s.schedules)}


def cmd_scenarios(args: argparse.Namespace) -> int:
    from .scenarios import SCENARIOS

    if args.json:
        print(json.dumps([scenario_json(s) for s in SCENARIOS.values()], indent=2))
        return EXIT_CLEAN
    for s in SCENARIOS.values():
        print(f"{s.name}: {s.title}")
        for th in s.threads:
            print(f"    {th}")
        print(textwrap.fill(s.teaches, 88, initial_indent="    teaches: ",
                            subsequent_indent="    "))
        if s.schedules:
            names = ", ".join(f"{n} ({v})" for n, v in s.schedules.items())
            print(f"    schedules: {names}")
        print()
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .explore import compare

    data = compare.load()
    if args.json:
        print(json.dumps(data, indent=1))
        return EXIT_CLEAN
    print(compare.table(data))
    by_why: dict[tuple, list[str]] = {}
    for name, c in data["no_counterpart"].items():
        by_why.setdefault((c["counterpart"], c["why"]), []).append(name)
    print("\nEach SPF check under per-VMA locks:")
    for (other, why), names in by_why.items():
        print(f"  {', '.join(names)}: " + (f"-> {other}: " if other else "") + why)
    return EXIT_CLEAN


def _design_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--design", choices=("spf", "per-vma"), default="spf",
                   help="the kernel: spf (6.1 with the speculative page fault series, the "
                        "default) or per-vma (6.12's per-VMA locks)")


def _scenario_and_mutants(args: argparse.Namespace) -> tuple:
    """The scenario on the design asked for, and the mutants, each checked to belong to it."""
    from .explore import mutants
    from .scenarios import get as get_scenario

    scen = get_scenario(args.scenario).with_design(args.design)
    return scen, [mutants.validate(m, args.design) for m in args.mutant]


def cmd_step(args: argparse.Namespace) -> int:
    from .explore import mutants
    from .sched import ScheduleError, format_schedule
    from .trace import format_step, result_line

    scen, muts = _scenario_and_mutants(args)
    spec = scen.schedules.get(args.schedule, args.schedule)
    run = scen.new_run(muts)
    if muts:
        print("mutants: " + "; ".join(f"{m} ({mutants.describe(m)})" for m in muts))
    print(f"scenario {scen.name}: {scen.title}")
    for th in scen.threads:
        print(f"  {th}")
    print(f"  (pte flags: {FLAGS_LEGEND})")
    print()
    try:
        run.run_spec(spec)
    except ScheduleError:
        for s in run.trace:  # show what did run before the bad step
            print("\n".join(format_step(s)))
        raise
    given = len(run.trace)
    for s in run.trace:
        print("\n".join(format_step(s)))
    if not run.finished and run.runnable():
        print(f"--- schedule done after {given} steps; lowest runnable thread first from here ---")
        run.finish()
        for s in run.trace[given:]:
            print("\n".join(format_step(s)))
    print()
    print(f"schedule: {format_schedule(run.schedule)}")
    if run.deadlocked:
        print("DEADLOCK: threads are left and none can move")
    for t in run.tasks:
        print(result_line(run, t.tid))
    for v in run.violations:
        print(f"  VIOLATION {v.invariant} at step {v.step}: {v.message}")
    if args.state:
        print()
        for key, val in run.trace[-1].state.items() if run.trace else run.initial_state.items():
            print(f"  {key} = {val}")
    return EXIT_VIOLATION if run.violations or run.deadlocked else EXIT_CLEAN


def cmd_explore(args: argparse.Namespace) -> int:
    from .explore.search import explore
    from .sched import format_schedule

    scen, muts = _scenario_and_mutants(args)
    rep = explore(scen, muts, search=args.search)
    status = EXIT_VIOLATION if rep.counterexamples or rep.deadlocks else EXIT_CLEAN
    if args.json:
        print(json.dumps(rep.as_dict(), indent=2))
        return status
    print(f"scenario {scen.name}" + (f" with mutants {', '.join(muts)}" if muts else "")
          + (" (per-VMA locks, 6.12)" if scen.design == "per-vma" else ""))
    print(f"  search: {rep.method}")
    print(f"  complete executions {rep.executions} (runs to the end), pruned {rep.pruned} "
          "(runs cut at a state explored before)")
    print(f"  distinct states {rep.states}, blocked states {rep.blocked_states} (a thread "
          f"waiting while another runs), deadlocks {rep.deadlocks}")
    print(f"  {rep.seconds:.3f} s, {rep.states_per_second:,.0f} states/s, "
          f"{rep.transitions} steps executed (replays included)")
    for o in rep.outcome_list():
        print("  outcome: " + ", ".join(f"T{x['thread']} {x['name']}: {x['result']}"
                                        for x in o))
    if not rep.counterexamples:
        print("  no invariant violated")
    for c in sorted(rep.counterexamples.values(), key=lambda c: c.invariant):
        flags = "".join(f" --mutant {m}" for m in muts)
        print(f"  VIOLATION {c.invariant}: {c.message}")
        print(f"    replay: spfteach step {scen.name} --schedule "
              f"{format_schedule(c.schedule)}{flags}")
    return status


def cmd_mutants(args: argparse.Namespace) -> int:
    from .explore import mutants
    from .explore.mutants import matrix
    from .scenarios import get as get_scenario

    muts = [mutants.validate(m) for m in args.mutant] if args.mutant else None
    scens = [get_scenario(s).name for s in args.scenario] if args.scenario else None

    def progress(done: int, total: int) -> None:
        if not args.json and sys.stderr.isatty():
            print(f"\r  explored {done}/{total}", end="", file=sys.stderr, flush=True)

    m = matrix(muts, scens, progress=progress)
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    data = m.as_json()
    # 1: some scenario breaks an invariant with nothing removed (the model is wrong)
    status = EXIT_VIOLATION if any(x["violations"] for x in data["scenarios"].values()) \
        else EXIT_CLEAN
    if args.json:
        print(json.dumps(data, indent=2))
        return status
    print("scenarios, unmutated:")
    for name, s in data["scenarios"].items():
        verdict = "clean" if not s["violations"] else f"{s['violations']} VIOLATIONS"
        print(f"  {name:<26} {verdict:<8} {s['executions']:>4} executions "
              f"{s['states']:>6} states {s['seconds']:>7.3f} s")
    print("mutants:")
    for name, row in data["mutants"].items():
        if row["caught_by"]:
            c = row["counterexample"]
            print(f"  {name:<28} caught by {', '.join(row['caught_by'])}")
            print(f"  {'':<28} shortest: {c['invariant']} in {c['scenario']}, "
                  f"schedule {c['schedule']}")
        elif row.get("pair"):
            where = ", ".join(row["pair_caught_by"]) or "NO scenario"
            print(f"  {name:<28} not caught alone; with {', '.join(row['pair'])}: caught by "
                  f"{where}")
        else:
            print(f"  {name:<28} NOT CAUGHT by any scenario")
    return status


_ADDRESS = re.compile(r"(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})", re.ASCII)


def _parse_address(text: str) -> int:
    """Hex (0x...) or decimal, ASCII digits only (Python's int() reads '١' as 1)."""
    if not _ADDRESS.fullmatch(text.strip()):
        raise UserError(f"bad address {text[:40]!r}: write it in hex like 0x7f0000001234, "
                        "or say 'random'")
    return int(text.strip(), 0)


def _seed(text: str) -> int:
    """``--seed``: a problem number, ASCII digits only."""
    if not re.fullmatch(r"[0-9]{1,9}", text.strip(), re.ASCII):
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a problem number: use 0 to "
                                         "999999999")
    return int(text)


def cmd_walk(args: argparse.Namespace) -> int:
    from .drills.walk import build_map, random_address, render

    if args.address == "random":
        address = random_address(args.seed, build_map(args.seed))
    else:
        address = _parse_address(args.address)
    print(render(args.seed, address, args.solve))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .drills.predict import describe, problems, solve

    for n, p in enumerate(problems(args.seed), 1):
        print(describe(p, n))
        if args.solve:
            print(solve(p))
        print()
    if not args.solve:
        print("Answer each: what happens first (completes, a check's name, or an invariant's "
              "name) and what the fault returns (0, VM_FAULT_RETRY, VM_FAULT_SIGSEGV, nothing). "
              f"Check with: spfteach predict --seed {args.seed} --solve")
    return 0


def _recorded_matrix() -> dict | None:
    """The mutant matrix ``make bench`` recorded in data/mutants.json, if any."""
    from .explore.bench import DATA

    path = DATA / "mutants.json"
    return json.loads(path.read_text()) if path.exists() else None


def _justification(c, m: dict | None) -> dict[str, object]:  # noqa: ANN001 - a Check
    """What the recorded matrix says of this check's mutant (None: not recorded)."""
    out: dict[str, object] = {"mutant": c.name if c.has_mutant else None}
    row = (m or {}).get("mutants", {}).get(c.name)
    if not c.has_mutant:
        return out
    if row is None:
        out["caught_by"] = None  # not recorded: run `make bench`
        return out
    out["caught_by"] = row["caught_by"]
    for key in ("counterexample", "pair_counterexample"):
        if row.get(key):
            ce = row[key]
            out[key] = {k: ce[k] for k in ("scenario", "invariant", "schedule")}
    if row.get("pair"):
        out["pair"], out["pair_caught_by"] = row["pair"], row.get("pair_caught_by", [])
    return out


_KIND_WORDS = {"guard": "a guard", "scope": "a scope test (no mutant: nothing to prevent)",
               "step": "a step", "branch": "a branch of the normal path (no mutant)"}


def cmd_checks(args: argparse.Namespace) -> int:
    from .model import checks as checkreg

    m = _recorded_matrix()
    if args.json:
        data = []
        for c in checkreg.CHECKS:
            d = c.as_dict()
            d["justified_by"] = _justification(c, m)
            data.append(d)
        print(json.dumps(data, indent=2))
        return EXIT_CLEAN
    for c in checkreg.CHECKS:
        exit_ = f", {c.exit}" if c.kind == "guard" else ""
        print(f"{c.name}  [{_KIND_WORDS[c.kind]}{exit_}]  {c.src.file}:{c.function}()")
        print(f"    {c.snippet}")
        print(textwrap.fill(c.reason, 88, initial_indent="    why: ", subsequent_indent="    "))
        j = _justification(c, m)
        ce = j.get("counterexample")
        if ce:
            print(f"    mutant {c.name}: caught by {ce['scenario']} ({ce['invariant']}), "
                  f"replay: spfteach step {ce['scenario']} --schedule {ce['schedule']} "
                  f"--mutant {c.name}")
        elif c.has_mutant and j.get("caught_by") is None:
            print("    mutant: not recorded yet (make bench records the matrix)")
        if c.note:
            print(textwrap.fill(c.note, 88, initial_indent="    note: ",
                                subsequent_indent="    "))
        pce = j.get("pair_counterexample")
        if pce:
            flags = "".join(f" --mutant {x}" for x in [c.name, *c.pair])
            print(f"    with {', '.join(c.pair)}: caught by {pce['scenario']} "
                  f"({pce['invariant']}), replay: spfteach step {pce['scenario']} "
                  f"--schedule {pce['schedule']}{flags}")
    if m is None:
        print("(no data/mutants.json: `make bench` records which scenario catches each mutant)")
    return EXIT_CLEAN


def cmd_grading(args: argparse.Namespace) -> int:
    from .grading import jail

    if args.grading_cmd == "report":
        return _grading_report(args)
    if args.grading_cmd != "jail":
        raise UserError("name what to do: spfteach grading jail, or spfteach grading report "
                        "COURSE_DIR")
    try:
        jail.probe()
    except jail.JailUnavailable as e:
        raise UserError(str(e)) from None
    print(jail.policy_text())
    return EXIT_CLEAN


def _grading_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .grading.report import collect

    course = Path(args.course)
    if not course.is_dir():
        raise UserError(f"{args.course}: no such directory (give the nbgrader course directory)")
    try:
        rep = collect(course)
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    print(rep.text())
    if args.png:
        from .viz import class_report_figure, to_png

        Path(args.png).write_bytes(to_png(class_report_figure(rep.as_plot_data(),
                                                              f"Class report: {rep.course}")))
        print(f"wrote {args.png}")
    return EXIT_CLEAN


def cmd_hub(args: argparse.Namespace) -> int:
    from .hub.cli import run as run_hub

    return run_hub(args)


def cmd_kernel(args: argparse.Namespace) -> int:
    from .kernel import run as run_kernel

    return run_kernel(args)


COMMANDS = {"scenarios": cmd_scenarios, "step": cmd_step, "walk": cmd_walk,
            "checks": cmd_checks, "compare": cmd_compare, "explore": cmd_explore,
            "mutants": cmd_mutants,
            "kernel": cmd_kernel, "grading": cmd_grading, "predict": cmd_predict,
            "hub": cmd_hub}


#: What a terminal that cannot show these characters gets instead.
_ASCII = {"→": "->", "←": "<-", "∅": "none", "×": "x", "…": "...", "—": "-", "–": "-",
          "≥": ">=", "≤": "<=", "·": ".", "‘": "'", "’": "'", "“": '"', "”": '"', "✓": "ok"}


def _ascii_fallback(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeEncodeError)
    text = err.object[err.start:err.end]
    return "".join(_ASCII.get(c, "?") for c in text), err.end


codecs.register_error("spfteach-ascii", _ascii_fallback)


def _fit_streams() -> None:
    """A non-UTF-8 locale or PYTHONIOENCODING=ascii: arrows print as ASCII (->),
    instead of a UnicodeEncodeError half-way through a trace."""
    for stream in (sys.stdout, sys.stderr):
        try:
            "→∅".encode(getattr(stream, "encoding", None) or "ascii")
        except (UnicodeEncodeError, LookupError):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="spfteach-ascii")


def _silence_stdout() -> None:
    """After a failed write, point stdout at /dev/null so that the interpreter's
    last flush of what is still buffered cannot print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    _fit_streams()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("spfteach: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `spfteach step ... | head`: the reader has what it wanted
        _silence_stdout()
        return EXIT_CLEAN
    except OSError as e:  # writing the output failed: a full disk, an I/O error
        _silence_stdout()
        print(f"spfteach: error: cannot write the output: {e.strerror or e} "
              "(is the disk full, or the output closed?)", file=sys.stderr)
        return EXIT_USAGE


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.cmd:
        print("spfteach: error: name a command: " + ", ".join(COMMANDS)
              + " (try: spfteach --help)", file=sys.stderr)
        return EXIT_USAGE
    if args.cmd == "kernel":
        status = COMMANDS[args.cmd](args)
        sys.stdout.flush()
        return status
    from .model.errors import UsageError
    from .sched import ModelError

    try:
        status = COMMANDS[args.cmd](args)
        sys.stdout.flush()
        return status
    except (UserError, UsageError) as e:
        print(f"spfteach: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ModelError as e:
        print(f"spfteach: {e}", file=sys.stderr)
        return EXIT_MODEL_ERROR


if __name__ == "__main__":
    sys.exit(main())
