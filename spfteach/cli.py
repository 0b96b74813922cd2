"""The ``spfteach`` command: step races, drill page-table walks, list the checks.

Every mistake a user can make is answered with one line that says what to do,
and exit status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from . import __doc__ as _pkgdoc  # noqa: F401
from .explore import mutants
from .model import checks as checkreg
from .model.pgtable import AddressError
from .scenarios import SCENARIOS, UnknownScenario
from .scenarios import get as get_scenario
from .sched import ModelError, ScheduleError, format_schedule
from .trace import format_step, result_line

DESCRIPTION = """\
Learn the Linux speculative page fault (SPF) by stepping through it.

A speculative fault handles a user page fault without taking mmap_sem: it
looks the VMA up without the lock, samples the VMA's sequence count, walks the
page tables with interrupts off and, before it installs the PTE, checks that
nothing changed.  Each command below shows one side of that.
"""

EPILOG = """\
examples:
  spfteach scenarios                         the race set-ups you can step
  spfteach step fault-vs-munmap              run it, thread 0 first
  spfteach step fault-vs-munmap --schedule 0*29,1*,0*
                                             fault until just before pte_map_lock,
                                             then all of munmap, then the fault again
  spfteach walk 0x7f0000001234 --seed 3      a page-table walk drill
  spfteach walk random --seed 3 --solve      ...with its answer
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

    sub.add_parser("scenarios", help="list the scenarios (race set-ups) you can step",
                   description="List the scenarios: who runs, on which CPU, what it teaches, "
                               "and named example schedules.")

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
            `spfteach scenarios`) can be given by name."""))
    st.add_argument("scenario", metavar="SCENARIO")
    st.add_argument("--schedule", default="", metavar="SCHED",
                    help="e.g. 0,0,1 or 0*24,1*,0* or a named schedule of the scenario")
    st.add_argument("--state", action="store_true",
                    help="print the full shared state after the last step")
    st.add_argument("--mutant", action="append", default=[], metavar="NAME",
                    help="switch a check off (see `spfteach mutants`); repeatable")

    ex = sub.add_parser(
        "explore", help="run every schedule of a scenario and check the invariants",
        description="Explore all schedules of SCENARIO (state caching: a state seen before is "
                    "not explored again) and check the invariants after every step. Reports "
                    "complete executions, distinct states, deadlocks, violations, time, and "
                    "for each violated invariant the shortest schedule that replays it with "
                    "`spfteach step SCENARIO --schedule ... --mutant ...`.")
    ex.add_argument("scenario", metavar="SCENARIO")
    ex.add_argument("--mutant", action="append", default=[], metavar="NAME",
                    help="switch a check off (repeatable)")
    ex.add_argument("--json", action="store_true", help="print the report as JSON")

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

    wk = sub.add_parser(
        "walk", help="page-table walk drill: split an address, follow the walk",
        description="A seeded memory map; the address split into its index fields, then the "
                    "walk level by level. The translation is shown with --solve.")
    wk.add_argument("address", metavar="ADDRESS",
                    help="a user virtual address (0x7f0000001234), or 'random'")
    wk.add_argument("--seed", type=int, default=0, help="problem number (default 0)")
    wk.add_argument("--solve", action="store_true", help="show the translation")

    ck = sub.add_parser("checks", help="every check of the speculative path and why it exists",
                        description="The registry of checks: name, C function and statement, "
                                    "what happens when it fires, and why it is needed.")
    ck.add_argument("--json", action="store_true", help="print a JSON list")
    return p


# --- commands -------------------------------------------------------------------


def cmd_scenarios(args: argparse.Namespace) -> int:
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


def cmd_step(args: argparse.Namespace) -> int:
    scen = get_scenario(args.scenario)
    muts = [mutants.validate(m) for m in args.mutant]
    spec = scen.schedules.get(args.schedule, args.schedule)
    run = scen.new_run(muts)
    if muts:
        print("mutants: " + "; ".join(f"{m} ({mutants.describe(m)})" for m in muts))
    print(f"scenario {scen.name}: {scen.title}")
    for th in scen.threads:
        print(f"  {th}")
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

    scen = get_scenario(args.scenario)
    muts = [mutants.validate(m) for m in args.mutant]
    rep = explore(scen, muts)
    status = EXIT_VIOLATION if rep.counterexamples or rep.deadlocks else EXIT_CLEAN
    if args.json:
        print(json.dumps(rep.as_dict(), indent=2))
        return status
    print(f"scenario {scen.name}" + (f" with mutants {', '.join(muts)}" if muts else ""))
    print(f"  complete executions {rep.executions}, pruned at a known state {rep.pruned}")
    print(f"  distinct states {rep.states}, blocked states {rep.blocked_states}, "
          f"deadlocks {rep.deadlocks}")
    print(f"  {rep.seconds:.3f} s, {rep.states_per_second:,.0f} states/s, "
          f"{rep.transitions} steps executed (replays included)")
    outcomes = sorted(", ".join(f"T{i} {r if isinstance(r, str) else _fault(r)}"
                                for i, r in enumerate(o)) for o in rep.outcomes)
    for o in outcomes:
        print(f"  outcome: {o}")
    if not rep.counterexamples:
        print("  no invariant violated")
    for c in sorted(rep.counterexamples.values(), key=lambda c: c.invariant):
        flags = "".join(f" --mutant {m}" for m in muts)
        print(f"  VIOLATION {c.invariant}: {c.message}")
        print(f"    replay: spfteach step {scen.name} --schedule "
              f"{format_schedule(c.schedule)}{flags}")
    return status


def _fault(r: object) -> str:
    from .model.mm_types import fault_str

    return fault_str(r) if isinstance(r, int) else str(r)


def cmd_mutants(args: argparse.Namespace) -> int:
    from .explore.mutants import matrix

    muts = [mutants.validate(m) for m in args.mutant] if args.mutant else None
    scens = [get_scenario(s).name for s in args.scenario] if args.scenario else None

    def progress(done: int, total: int) -> None:
        if not args.json and sys.stderr.isatty():
            print(f"\r  explored {done}/{total}", end="", file=sys.stderr, flush=True)

    m = matrix(muts, scens, progress=progress)
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    data = m.as_json()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
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
        else:
            print(f"  {name:<28} NOT CAUGHT by any scenario")
    return 0


def _parse_address(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise UserError(f"bad address {text!r}: write it in hex like 0x7f0000001234, "
                        "or say 'random'") from None


def cmd_walk(args: argparse.Namespace) -> int:
    from .drills.walk import build_map, random_address, render

    if args.seed < 0:
        raise UserError(f"bad seed {args.seed}: use a number >= 0")
    if args.address == "random":
        address = random_address(args.seed, build_map(args.seed))
    else:
        address = _parse_address(args.address)
    print(render(args.seed, address, args.solve))
    return 0


def _recorded_matrix() -> dict | None:
    """The mutant matrix ``make bench`` recorded in data/mutants.json, if any."""
    from .explore.bench import DATA

    path = DATA / "mutants.json"
    return json.loads(path.read_text()) if path.exists() else None


def _justification(c: checkreg.Check, m: dict | None) -> dict[str, object]:
    out: dict[str, object] = {"mutant": c.name}
    row = (m or {}).get("mutants", {}).get(c.name)
    if row is None:
        out["caught_by"] = None  # not recorded: run `make bench`
    else:
        out["caught_by"] = row["caught_by"]
        if row.get("counterexample"):
            ce = row["counterexample"]
            out["scenario"] = ce["scenario"]
            out["invariant"] = ce["invariant"]
            out["schedule"] = ce["schedule"]
    if c.note:
        out["note"] = c.note
    return out


def cmd_checks(args: argparse.Namespace) -> int:
    m = _recorded_matrix()
    if args.json:
        data = []
        for c in checkreg.CHECKS:
            d = c.as_dict()
            d["justified_by"] = _justification(c, m)
            data.append(d)
        print(json.dumps(data, indent=2))
        return 0
    for c in checkreg.CHECKS:
        print(f"{c.name}  [{c.exit}]  {c.src.file}:{c.function}()")
        print(f"    {c.snippet}")
        print(textwrap.fill(c.reason, 88, initial_indent="    why: ", subsequent_indent="    "))
        j = _justification(c, m)
        if j.get("scenario"):
            print(f"    mutant {c.name}: caught by {j['scenario']} ({j['invariant']}), "
                  f"replay: spfteach step {j['scenario']} --schedule {j['schedule']} "
                  f"--mutant {c.name}")
        elif j["caught_by"] is None:
            print("    mutant: not recorded yet (make bench records the matrix)")
        if c.note:
            print(textwrap.fill(c.note, 88, initial_indent="    mutant alone not caught: ",
                                subsequent_indent="    "))
        if c.backup:
            print(f"    with {', '.join(c.backup)} removed too: caught by {c.backup_scenario}")
    if m is None:
        print("(no data/mutants.json: `make bench` records which scenario catches each mutant)")
    return 0


def cmd_kernel(args: argparse.Namespace) -> int:
    from .kernel import run as run_kernel

    return run_kernel(args)


COMMANDS = {"scenarios": cmd_scenarios, "step": cmd_step, "walk": cmd_walk,
            "checks": cmd_checks, "explore": cmd_explore, "mutants": cmd_mutants,
            "kernel": cmd_kernel}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.cmd:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.cmd](args)
    except (UserError, ScheduleError, UnknownScenario, AddressError,
            mutants.UnknownMutant) as e:
        print(f"spfteach: error: {e}", file=sys.stderr)
        return 2
    except ModelError as e:
        print(f"spfteach: {e}", file=sys.stderr)
        return EXIT_MODEL_ERROR
    except KeyboardInterrupt:
        print("spfteach: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `spfteach step ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
