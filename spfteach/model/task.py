"""Tasks (threads) and the records their steps leave behind.

Model functions are generators (the SimPy habit): before every access to shared
state or lock operation a task *announces* the access by yielding an :class:`Op`;
the scheduler decides when it happens by resuming the generator, which then
performs the access and runs on, through thread-local computation only, to its
next announcement.  Announcing first is what lets the scheduler know that a task
is blocked (``spin_lock`` on a held lock, a flusher waiting for IPI
acknowledgements) without running it.  What the step then touches is recorded as
it runs (:mod:`.record`), not announced.

Every ``Op`` carries a :class:`Src`: the kernel file, the function and a snippet
of the C statement being executed.  A test resolves each snippet to a line of
the project's own C port, so the model cannot drift from the C.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checks import Check
    from .machine import Machine
    from .wait import Wait

#: What a guard does when it fires, by its ``exit``.
_EXITS = {"abort": ("aborts with VM_FAULT_RETRY", "aborted with VM_FAULT_RETRY"),
          "sigsegv": ("fails with VM_FAULT_SIGSEGV", "failed with VM_FAULT_SIGSEGV"),
          # the per-VMA design's (spfteach.model.pervma.checks)
          "fallback": ("falls back to mmap_lock", "fell back to mmap_lock"),
          "retry": ("looks the VMA up again", "looked the VMA up again"),
          "trylock": ("needs mmap_lock as well: trylock, or VM_FAULT_RETRY",
                      "needed mmap_lock as well")}
#: What a guard returns when it fires, by its ``exit``.
RETURNS = {"abort": "VM_FAULT_RETRY", "sigsegv": "VM_FAULT_SIGSEGV", "fallback": "NULL",
           "retry": "goto retry", "trylock": "mmap_read_trylock()"}


@dataclass(frozen=True)
class Guard:
    """A guard of the speculative path evaluated on a step, as data: the pictures and the
    drills read these, not the words of the step's notes."""

    name: str
    #: its condition held: the path gives up here, unless the guard is switched off
    fired: bool
    #: a mutant removed it (it never fires); ``fired`` says whether it would have
    removed: bool = False
    #: a scope test widened for a test: the model goes on past it
    widened: bool = False
    #: what the fault returns when the guard fires (``VM_FAULT_RETRY``)
    returns: str = ""

    @property
    def stopped(self) -> bool:
        """The path gave up here."""
        return self.fired and not self.removed and not self.widened


@dataclass(frozen=True)
class Src:
    """A C statement: file, function and a snippet that occurs in one line of it."""

    file: str
    function: str
    snippet: str
    #: When the same statement occurs twice in a function (``local_irq_enable();``
    #: on the success path and after the ``out_walk:`` label), the text of a
    #: line that precedes the meant occurrence: the snippet resolves to the
    #: first matching line after it.
    after: str = ""
    #: the tree the line is in: "" for our port (6.1 and the series), ``"6.12"`` for
    #: Debian's linux-source-6.12, the per-VMA-lock design (:mod:`..model.pervma`)
    tree: str = ""

    def __str__(self) -> str:
        return f"{self.function}: {self.snippet}"


@dataclass
class Op:
    """One announced step of a task.

    ``waits_on`` is ``None`` for a step that can always run; otherwise it declares what
    the step waits for (:mod:`.wait`: a lock, the PTE lock, IPI answers) and the task
    is blocked until that is ready.  After the
    step ran, ``text`` says what happened in words and ``notes`` hold the checks
    evaluated on the way to the next announcement.
    """

    src: Src
    waits_on: Wait | None = None
    #: True for a step that touches no shared state (a flag computed on the
    #: task's own stack): shown in traces, but it commutes with every other step.
    local: bool = False
    text: str = ""
    notes: list[str] = field(default_factory=list)
    #: the guards evaluated on the way to the next announcement
    guards: list[Guard] = field(default_factory=list)
    #: the step's decision came from a grading override (``Machine.override``) and
    #: differs from the port's: from here the run is the student's, not the C's
    overridden: bool = False

    @property
    def enabled(self) -> Callable[[], bool] | None:
        """The test whether the step can run now (None: it always can)."""
        return None if self.waits_on is None else self.waits_on.ready

    @property
    def waits_for(self) -> str:
        """What it waits for, in words (``mmap_lock``, ``the PTE lock``)."""
        return "" if self.waits_on is None else self.waits_on.what


#: What a model function returns: a generator yielding Ops, returning R.
Gen = Generator[Op, None, Any]


def _line_612(src: Src, before: Src | None) -> Src:
    """:func:`.pervma.lines.line_612`, imported when first needed (it imports this module)."""
    from .pervma.lines import line_612

    return line_612(src, before)


class Task:
    """A thread of the model (``current`` in kernel code).

    It runs on one CPU for its whole life (no migration in the model), so
    ``local_irq_disable()`` in the task disables interrupts on that CPU.
    """

    #: Every attribute, declared once (:mod:`.state`): ``"state"`` enters the
    #: thread's key (``spfteach.explore.statekey.thread_key``), ``"ident"`` names the
    #: thread, anything else says why it is not state.
    FIELDS: dict[str, str] = {
        "machine": "the machine: its state is the shared part of the key",
        "tid": "ident", "name": "ident", "cpu": "ident",
        "op": "the announced step: the frame chain in the thread's key gives it",
        "checks_taken": "a record of the path for traces and drills, never read by the model",
        "in_spf": "state", "refault": "state", "would_have": "state",
        "faults": "ident",  # set by the thread's first step, never changed
        "spf_result": "state",
    }
    #: the attributes that enter the thread's key, in order
    STATE: tuple[str, ...] = tuple(k for k, v in FIELDS.items() if v == "state")

    def __init__(self, machine: Machine, tid: int, name: str, cpu: int) -> None:
        self.machine = machine
        self.tid = tid
        self.name = name
        self.cpu = cpu
        self.op: Op | None = None
        self.checks_taken: list[str] = []
        #: inside handle_speculative_fault(): must never take mmap_lock
        self.in_spf = False
        #: the fault chose to return 0 without mapping so the access retries
        #: (a migration to wait for, an unstable pmd): not a lost fault
        self.refault = False
        #: guards a mutant removed that would have fired on this thread's way so
        #: far: a violation after one of them is one that guard would have stopped
        self.would_have: tuple[str, ...] = ()
        #: the thread takes a page fault (``do_user_addr_fault()``): its result is a
        #: ``vm_fault_t``, not a writer's return value
        self.faults = False
        #: what ``handle_speculative_fault()`` returned (None: not tried, or not yet)
        self.spf_result: int | None = None

    # --- announcing and describing steps -------------------------------

    def at(
        self,
        src: Src,
        waits_on: Wait | None = None,
        local: bool = False,
    ) -> Op:
        """Announce the next shared access; ``yield`` the result. ``waits_on``: what the step
        waits for (:mod:`.wait`); ``local``: the step touches no shared state (the explorer
        runs it alone; the scheduler checks the recording). What the step touches is
        recorded as it runs (:mod:`.record`), not declared here.  Under the per-VMA design a
        line of our port is announced as its 6.12 line (:mod:`.pervma.lines`): only the label
        changes."""
        if self.machine.design == "per-vma" and not src.tree:
            src = _line_612(src, None if self.op is None else self.op.src)
        self.op = Op(src, waits_on, local)
        return self.op

    def did(self, text: str) -> None:
        """Say, in words, what the step just performed did."""
        assert self.op is not None
        self.op.text = text

    def note(self, text: str) -> None:
        assert self.op is not None
        self.op.notes.append(text)

    def check(self, check: Check, fired: bool, detail: str = "") -> bool:
        """Evaluate a guard of the speculative path; True: the path gives up here.

        A guard that the run's mutants switch off never fires: this is how the
        explorer shows that the guard is needed.  The note says what happened in
        the kernel's words, and, for a removed guard, what it would have done.
        """
        assert check.kind in ("guard", "scope"), f"{check.name} is a {check.kind}, not a guard"
        assert self.op is not None
        widened = check.kind == "scope" and check in self.machine.widened
        mutated = check.kind == "guard" and self.machine.mutated(check)
        self.op.guards.append(Guard(check.name, fired, mutated, widened, RETURNS[check.exit]))
        if widened:
            self.note(f"check {check.name}: widened (the port refuses this kind of VMA here; "
                      "the model goes on, to show that nothing goes wrong)" if fired else
                      f"check {check.name}: widened; it would have passed here anyway")
            return False
        does, did = _EXITS[check.exit]
        why = f" ({detail})" if detail else ""
        if mutated:
            if fired and check.name not in self.would_have:
                self.would_have += (check.name,)
            self.note(f"check {check.name}: REMOVED (mutant): it would have {did} here{why}; "
                      f"the fault goes on. The check is there because: {check.reason}"
                      if fired else
                      f"check {check.name}: removed (mutant); it would have passed here anyway")
            return False
        self.note(f"check {check.name}: {does}{why}" if fired else f"check {check.name}: passes")
        if fired:
            self.checks_taken.append(check.name)
        return fired

    def branch(self, check: Check, taken: bool, if_taken: str, if_not: str) -> bool:
        """A branch of the normal path (a registered check of kind ``branch``): say
        which way it went.  Returns ``taken``."""
        assert check.kind == "branch", f"{check.name} is a {check.kind}, not a branch"
        self.note(f"branch {check.name}: {if_taken if taken else if_not}")
        if taken:
            self.checks_taken.append(check.name)
        return taken

    def __repr__(self) -> str:
        return f"Task({self.tid}, {self.name!r}, cpu{self.cpu})"
