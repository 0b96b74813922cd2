"""The seqcount exercise: a reader that must take a consistent snapshot of a
two-field structure (``a``, ``b``) that a writer changes under a sequence count.

The student writes a plain function::

    def read_snapshot(read_seq, read_a, read_b, retry) -> tuple[int, int]

``read_seq()`` is ``raw_read_seqcount()`` (it does not wait for an even count),
``read_a()``/``read_b()`` read one field each, ``retry(start)`` is
``read_seqcount_retry()`` (True when the count moved since ``start``).  Each call
is one step of the model, taken with :mod:`spfteach.model.seqlock`'s primitives,
and the scheduler decides who runs between two calls.

The function runs in the jail (:mod:`.jail`), never here, and each call of a
primitive is a message the judge answers.  A plain function cannot stop in the
middle of a call the way the model's generators do, so the reader thread asks
an oracle (:class:`JailedReader`) *what the function does next after these
answers*: the jail runs the function from the top, the judge answers its first
calls from the history and stops it at the next one.  The function is
deterministic in what the calls return, so the history is the reader's whole
state: that is what makes the search's state cache sound here (:func:`_key`),
and the oracle asks the jail about each history once.

Scenarios: ``writer`` (a writer publishes (1, 1) and then (2, 2) over (0, 0)
while the reader reads), ``mid-write`` (the reader starts while the writer is
inside its first write: ``a`` is new, ``b`` old, the count odd), and ``alone`` (no
writer: the reader must return, not retry until it gives up).

Safety, checked when the reader returns, in every scenario:

* *linearizable*: the snapshot is a value the structure had at some instant
  between the call and the return.  A write is one instant somewhere between
  its ``write_seqcount_begin()`` and its ``write_seqcount_end()``, so the values
  allowed are the version current at the call (the last write that had ended),
  every later one, and the one a write in progress at the return publishes;
  a torn pair (``(1, 0)``) never is one, and neither is a version that a
  finished write had replaced before the call;
* *fresh*: each field of the snapshot is a value the reader read
  (``read_a()``, ``read_b()``): a constant, or ``(a, a)``, is a value it never read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..model.machine import Machine
from ..model.seqlock import (
    SeqCount,
    raw_read_seqcount,
    read_seqcount_retry,
    write_seqcount_begin,
    write_seqcount_end,
)
from ..model.task import Gen, Src, Task
from ..sched import Run, format_schedule
from ..trace import format_trace
from .answer import Answer
from .jail import STOP, Primitive, StudentError

F = "exercise: seqcount"
#: How many calls the reader may make before it counts as retrying forever.
BOUND = 12
SIGNATURE = "read_snapshot(read_seq, read_a, read_b, retry) -> tuple[int, int]"


#: How many versions the writer publishes over (0, 0): (1, 1), (2, 2), ...
VERSIONS = 2


@dataclass
class Pair:
    """The structure: two fields the writer keeps equal, their count, and how
    many writes have begun and ended (version k is (k, k); the oracle of
    linearizability, not state a reader can see)."""

    seq: SeqCount = field(default_factory=lambda: SeqCount("pair.seq"))
    a: int = 0
    b: int = 0
    begun: int = 0
    ended: int = 0


def _src(fn: str, snippet: str) -> Src:
    return Src(F, fn, snippet)


def writer(t: Task, p: Pair, inside: bool) -> Gen:
    """Publish (1, 1), (2, 2), ...: each a write section (count odd, a, b, count
    even).  ``inside``: the first one already began and wrote ``a`` before the
    story starts."""
    fn = "writer"
    for k in range(1, VERSIONS + 1):
        if not (inside and k == 1):
            yield from write_seqcount_begin(t, p.seq, _src(fn, "write_seqcount_begin(&p->seq);"))
            p.begun = k
            yield t.at(_src(fn, "p->a = v;"))
            p.a = k
            t.did(f"p->a = {k}")
        yield t.at(_src(fn, "p->b = v;"))
        p.b = k
        t.did(f"p->b = {k}")
        yield from write_seqcount_end(t, p.seq, _src(fn, "write_seqcount_end(&p->seq);"))
        p.ended = k
    return 0


#: What the reader does next: ("seq" | "a" | "b" | "retry", the argument) or
#: ("return", the value it returned).
Action = tuple[str, object]
Oracle = Callable[[tuple], Action]


class JailedReader:
    """The student's ``read_snapshot()``, asked through the jail: the action
    after each history of answers, memoized."""

    PRIMS = ("read_seq", "read_a", "read_b", "retry")
    KIND = {"read_seq": "seq", "read_a": "a", "read_b": "b", "retry": "retry"}

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.memo: dict[tuple, Action] = {}
        answer.function("read_snapshot")

    def __call__(self, history: tuple) -> Action:
        if history not in self.memo:
            self.memo[history] = self._ask(history)
        return self.memo[history]

    NAME = {kind: prim for prim, kind in KIND.items()}

    def _ask(self, history: tuple) -> Action:
        """Run the function with the history's answers (the jail replays them and
        reports the calls, which must be the history's) and stop it at its next
        call: that call is a message, and the action."""
        nxt: Action | None = None

        def answer(prim: str, args: list) -> object:
            nonlocal nxt
            kind = self.KIND[prim]
            if kind == "retry":
                if len(args) != 1 or type(args[0]) is not int:
                    raise StudentError("retry() takes the count read_seq() returned, not "
                                       f"{', '.join(map(repr, args)) or 'nothing'}")
                nxt = (kind, args[0])
            elif args:
                raise StudentError(f"{prim}() takes no arguments")
            else:
                nxt = (kind, None)
            return STOP

        replay = [(self.NAME[k], [] if a is None else [a], v) for k, a, v in history]
        got = self.answer.jail.call("read_snapshot", [Primitive(p) for p in self.PRIMS], answer,
                                    replay=replay)
        if got is STOP:
            assert nxt is not None
            return nxt
        return ("return", got)


def reader(t: Task, p: Pair, oracle: Oracle) -> Gen:
    """The student's function, one primitive call a step: the oracle says what
    it does after the answers so far, the model takes that step.  The function is
    called when the story starts: the version current then is the oldest it may
    return."""
    history: list[tuple[str, object, int | bool]] = []
    lower = p.ended
    while True:
        kind, arg = oracle(tuple(history))
        if kind == "return":  # a step of its own: the return is judged at an instant
            yield t.at(_src("read_snapshot", "return (a, b);"), local=True)
            t.did(f"read_snapshot() returns {arg!r}")
            _judge(t, p, arg, lower, history)
            return tuple(arg) if isinstance(arg, tuple | list) else arg
        if len(history) >= BOUND:
            yield t.at(_src("reader", "/* gives up */"), local=True)
            t.did(f"the reader made {BOUND} calls without returning: it gives up here")
            return "spun"
        if kind == "seq":
            v: int | bool = yield from raw_read_seqcount(
                t, p.seq, _src("read_snapshot", "seq = raw_read_seqcount(&p->seq);"))
        elif kind == "retry":
            assert isinstance(arg, int)
            v = yield from read_seqcount_retry(
                t, p.seq, arg, _src("read_snapshot", "read_seqcount_retry(&p->seq, seq)"))
        else:
            yield t.at(_src("read_snapshot", f"{kind} = READ_ONCE(p->{kind});"))
            v = p.a if kind == "a" else p.b
            t.did(f"reads p->{kind}: {v}")
        history.append((kind, arg, v))


def _judge(t: Task, p: Pair, got: object, lower: int, history: list) -> None:
    """The reader returns ``got``: linearizable, then fresh (the module docstring)."""
    snap = tuple(got) if isinstance(got, tuple | list) else got
    if not (isinstance(snap, tuple) and len(snap) == 2 and all(type(x) is int for x in snap)):
        t.machine.violate("torn-snapshot", f"the reader returns {snap!r}, not a pair of ints")
        return
    allowed = [(k, k) for k in range(lower, p.begun + 1)]
    if snap not in allowed:
        t.machine.violate("torn-snapshot", f"the reader returns {snap}, which the structure "
                         f"never held between the call and the return: it held "
                         f"{', '.join(map(str, allowed))} then")
        return
    for field_, v in zip("ab", snap, strict=True):
        read = sorted({val for k, _, val in history if k == field_})
        if v not in read:
            t.machine.violate("unread-value", f"the reader returns {snap}, but it never read "
                             f"{v} from p->{field_} (it read {read or 'nothing'} there)")
            return


@dataclass(frozen=True)
class SeqScenario:
    """A seqcount set-up, shaped like a :class:`~spfteach.scenarios.base.Scenario`
    for stepping (``name``, ``new_run``)."""

    name: str
    with_writer: bool
    inside: bool = False

    def new_run(self, fn: Oracle, record: bool = True) -> Run:
        k = Machine(ncpus=2)
        p = Pair()
        if self.inside:
            p.seq.sequence, p.a, p.begun = 1, 1, 1
        r = k.add_task("reader", 0)
        programs = [(r, reader(r, p, fn))]
        if self.with_writer:
            w = k.add_task("writer", 1)
            programs.append((w, writer(w, p, self.inside)))
        run = Run(k, programs, record=record)
        run.pair = p  # type: ignore[attr-defined]
        return run


SCENARIOS = {s.name: s for s in (SeqScenario("writer", True), SeqScenario("mid-write", True, True),
                                 SeqScenario("alone", False))}


def _key(run: Run) -> tuple:
    """Shared state (the pair) and each thread's: the reader's history (its whole
    state, see the module docstring), the writer's step count (which fixes
    ``begun`` and ``ended``), results."""
    p = run.pair  # type: ignore[attr-defined]
    reader_gen = run._gens[0]
    frame = reader_gen.gi_frame
    hist = tuple(frame.f_locals.get("history", ())) if frame is not None else ()
    steps = tuple(run.schedule.count(tid) for tid in range(1, len(run.tasks)))
    return (p.seq.sequence, p.a, p.b, hist, steps, tuple(sorted(run.results.items(), key=str)))


@dataclass
class Found:
    invariant: str
    message: str
    schedule: list[int]


def search(scen: SeqScenario, fn: Oracle) -> tuple[Found | None, set, int]:
    """Breadth-first over every schedule, states cached: the shortest violation (or
    None), the outcomes (the reader's result), the states seen."""
    seen: set = set()
    outcomes: set = set()
    queue: deque[list[int]] = deque([[]])
    while queue:
        prefix = queue.popleft()
        run = scen.new_run(fn, record=False).replay(prefix)
        if run.violations:
            v = run.violations[0]
            return Found(v.invariant, v.message, prefix), outcomes, len(seen)
        key = _key(run)
        if key in seen:
            continue
        seen.add(key)
        enabled = run.runnable()
        if not enabled:
            outcomes.add(run.results.get(0))
        queue.extend(prefix + [tid] for tid in enabled)
    return None, outcomes, len(seen)


def trace_text(scen: SeqScenario, fn: Oracle, found: Found, last: int = 12) -> str:
    run = scen.new_run(fn)
    run.run_spec(found.schedule)
    sched = format_schedule(found.schedule)
    return "\n".join([f"breaks {found.invariant}: {found.message}",
                      f"shortest schedule: {sched} ({len(found.schedule)} steps; T0 the "
                      "reader, T1 the writer); its last steps:",
                      format_trace(run, start=max(0, len(run.trace) - last))])
