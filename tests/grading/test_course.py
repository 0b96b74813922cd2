"""The nbgrader round trip on the course as shipped (notebooks/course/), with nbgrader's own
command line, as an instructor runs it: generate the student versions, autograde a class of
submissions, generate the feedback, export the grades.  The class holds the reference answers,
the blank release, plausible wrong answers, an infinite loop, an exception, and attackers: answer
cells that escape Python, reach the files of the course or of classmates, fork, allocate, write,
connect, kill, print fake grades, leave processes or code behind; cells added to rewrite a
classmate's answer or the gradebook; ids that differ from the one graded.

Everything runs once, in a copy of the course in a temporary directory (the module fixture);
the tests below each check one thing the round trip must show: each attack's exact score and
its one line of feedback saying what was refused, and every honest classmate's exact score."""

from __future__ import annotations

import csv
import hashlib
import html
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from spfteach.grading import exercises
from tests.paths import ROOT

COURSE = ROOT / "notebooks" / "course"
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.timeout(1500)


# --- the class: who hands in what -------------------------------------------------------


@dataclass
class Submission:
    """One student's notebook: the release with ``answers`` (grade_id -> source) filled in,
    ``extra`` cells appended, ``claims`` (grade_id -> text) as a cell's output, and what it must
    score: grade cell -> points (None: partial, strictly between zero and the cell's points).
    Sources may name {ROOT} (the course), {SITE} (the venv's site-packages), {PKG} (the
    installed spfteach), {MARK} (a directory an executed cell would leave a file in) and
    {PORT} (a port the test listens on, on the host's loopback)."""

    answers: dict[str, str]
    expect: dict[str, float | None]
    extra: tuple[str, ...] = ()
    claims: dict[str, str] | None = None


def _vma(body: str) -> str:
    return f"def vma_has_changed(vm_sequence_now, seq_at_start, vm_detached):\n{body}\n"


def _reader(body: str) -> str:
    return f"def read_snapshot(read_seq, read_a, read_b, retry):\n{body}\n"


def _walk_answers(sid: str, mistake) -> str:
    """An answer cell for ``sid`` where ``mistake`` maps (address, right answer) to the
    answer given."""
    lines = []
    for i, a in enumerate(exercises.walk_questions(sid)):
        v = mistake(a, exercises.walk_expected(sid, a))
        lines.append(f"    qs[{i}]: {'None' if v is None else hex(v)},")
    return "answers = {\n" + "\n".join(lines) + "\n}\n"


def _walk_student(prefix: str, mistake) -> tuple[str, str]:
    """The first id ``prefix-N`` for which ``mistake`` gets some answers right and some
    wrong (ids are hashed: which addresses a student gets is fixed by the id)."""
    for n in range(200):
        sid = f"{prefix}-{n}"
        got = [mistake(a, exercises.walk_expected(sid, a)) == exercises.walk_expected(sid, a)
               for a in exercises.walk_questions(sid)]
        if any(got) and not all(got):
            return sid, _walk_answers(sid, mistake)
    raise AssertionError(f"no student id makes {prefix} partial")  # pragma: no cover


def _break_student(prefix: str, mutant: str) -> str:
    """An id whose mutant is ``mutant`` (the id draws it)."""
    return next(f"{prefix}-{n}" for n in range(500)
                if exercises.mutant_for(f"{prefix}-{n}") == mutant)


def _explored(mutant: str) -> str:
    """The explorer's shortest counterexample for ``mutant``: the instructor's reference,
    computed as the source notebook computes it (its solution cell runs the explorer, which
    a jail does not have: alice hands in the schedule itself)."""
    from spfteach.explore.search import explore
    from spfteach.scenarios import get
    from spfteach.sched import format_schedule

    found = explore(get(exercises.BREAK_POOL[mutant]), mutants=[mutant]).counterexamples
    return format_schedule(min(found.values(), key=lambda c: len(c.schedule)).schedule)


WALK_WRONG = {
    "forgot-offset": lambda a, v: v if v is None else v & ~0xFFF,
    "frame-number": lambda a, v: v if v is None else v >> 12,
    "swap-is-mapped": lambda a, v: v if v is not None else (a & 0xFFF) | 0x1000,
}

#: A cell that rebinds the grader in the notebook's kernel to say 8 (were it run).
CHEAT = """\
import spfteach.grading as g, spfteach.grading.pool as p
g.autograded_outside = lambda *a, **k: 8.0
g.check = lambda *a, **k: None
p.run = lambda *a, **k: None
"""


def _class() -> dict[str, dict[str, Submission]]:
    """assignment -> student id -> submission ("alice" hands in the source's own answers)."""
    c: dict[str, dict[str, Submission]] = {a: {} for a in ASSIGNMENTS}
    # alice's source notebook computes her answers with the grader's own walk, which a jail
    # does not have: she hands them in written out.
    c["walk"]["alice"] = Submission({"walk-answer": _walk_answers("alice", lambda a, v: v)},
                                    {"walk-grade": 4})
    for name, mistake in WALK_WRONG.items():
        sid, src = _walk_student(f"walk-{name}", mistake)
        c["walk"][sid] = Submission({"walk-answer": src}, {"walk-grade": None})
    c["seqcount"]["alice"] = Submission({}, {"seq-grade": 6})
    for name, body, pts in [
        ("no-retry", "    return (read_a(), read_b())", 2),
        ("no-odd-test", "    while True:\n        seq = read_seq()\n"
         "        a, b = read_a(), read_b()\n        if not retry(seq):\n"
         "            return (a, b)", 2),
        ("odd-test-no-retry", "    while True:\n        if read_seq() & 1:\n"
         "            continue\n        return (read_a(), read_b())", 2),
    ]:
        c["seqcount"][f"seq-{name}"] = Submission({"seq-answer": _reader(body)},
                                                  {"seq-grade": pts})
    order = '["check_vma", "read_pmd", "pmd_same", "lockptr", "trylock", "recheck_vma"]'
    c["vma_has_changed"]["alice"] = Submission(
        {}, {"vma-grade": 6, "order-grade": 3, "writers-grade": 3})
    every = list(exercises.WRITERS)
    for name, body, pts, wrong_order, opts, writers, wpts in [
        ("ignores-detached", "    return vm_sequence_now != seq_at_start", 4,
         '["read_pmd", "check_vma", "pmd_same", "lockptr", "trylock", "recheck_vma"]', 2,
         ["mprotect", "split"], 2.33),
        ("masks-odd-bit", "    return vm_detached or (vm_sequence_now & ~1) != "
         "(seq_at_start & ~1)", 4,
         '["check_vma", "read_pmd", "lockptr", "trylock", "pmd_same", "recheck_vma"]', 2,
         every, 0),
        ("always-false", "    return False", 0,
         '["check_vma", "read_pmd", "pmd_same", "lockptr", "recheck_vma", "trylock"]', 2,
         [], 1),
    ]:
        c["vma_has_changed"][f"vma-{name}"] = Submission(
            {"vma-answer": _vma(body), "order-answer": f"ORDER = {wrong_order}",
             "writers-answer": f"WRITERS = {writers!r}"},
            {"vma-grade": pts, "order-grade": opts, "writers-grade": wpts})
    # Loops forever where the VMA was unmapped: that part times out, the others are graded.
    c["vma_has_changed"]["vma-loops"] = Submission(
        {"vma-answer": _vma("    while vm_detached:\n        pass\n"
                            "    return vm_sequence_now != seq_at_start"),
         "order-answer": f"ORDER = {order}"},
        {"vma-grade": 4, "order-grade": 3})
    c["vma_has_changed"]["vma-raises"] = Submission(
        {"vma-answer": _vma("    return vm_detached or 1 / (vm_sequence_now - seq_at_start)"),
         "order-answer": f"ORDER = {order}"},
        {"vma-grade": 0, "order-grade": 3})
    # Always False (0/6 on its merits), and a cell that rebinds the grader to say 8.
    c["vma_has_changed"]["vma-cheats"] = Submission(
        {"vma-answer": _vma("    return False"), "order-answer": f"ORDER = {order}"},
        {"vma-grade": 0, "order-grade": 3}, extra=(CHEAT,))
    # Which writers must call vma_start_write() (per-VMA locks): the speculative answer copied
    # from vma_has_changed, every writer, one left out, one too many.
    c["vma_locks"]["alice"] = Submission({}, {"locks-grade": 3})
    relied = sorted(exercises.VMA_LOCK_RELIED)
    for name, writers, pts in [
            ("spf-answer", sorted(exercises.RELIED), 1),
            ("every-writer", list(exercises.VMA_LOCK_WRITERS), 1),
            ("no-munmap", [w for w in relied if w != "munmap"], 2.33),
            ("anon-vma-too", [*relied, "anon_vma_prepare"], 2.33)]:
        c["vma_locks"][f"locks-{name}"] = Submission(
            {"locks-answer": f"WRITERS = {writers!r}"}, {"locks-grade": pts})
    mutant, scen = exercises.break_problem("alice")
    c["break_it"]["alice"] = Submission(
        {"break-answer": f"scenario = {scen!r}\nschedule = {_explored(mutant)!r}\n"},
        {"break-grade": 4})
    for name, mutant, sched in [
            ("runs-breaks-nothing", "spinlock_vma_changed", "0*,1*"),
            ("another-mutants-schedule", "maplock_vma_changed_locked", "0*23,1*15,0*3"),
            ("stops-too-early", "spinlock_vma_changed_locked", "0*31,1*13")]:
        sid = _break_student(f"break-{name}", mutant)
        c["break_it"][sid] = Submission(
            {"break-answer": f"scenario = {exercises.BREAK_POOL[mutant]!r}\n"
                             f"schedule = {sched!r}\n"}, {"break-grade": 1})
    _predictors(c)
    for a in ASSIGNMENTS:
        blank = {gid: 0.0 for s in c[a].values() for gid in s.expect}
        c[a]["blank"] = Submission({}, blank)
    _attackers(c)
    return c


def _predictors(c: dict[str, dict[str, Submission]]) -> None:
    """alice hands in the model's outcomes (her source notebook computes them with the drill,
    which a jail does not have); the others guess the same for every problem, or shift the
    right answers by one."""
    from spfteach.drills.predict import normalized, outcome

    def right(sid: str) -> list[tuple[str, str]]:
        return [(outcome(p).first, outcome(p).returns) for p in exercises.predict_problems(sid)]

    def points(sid: str, guess: list[tuple[str, str]]) -> float:
        total = 0.0
        for (f, r), (rf, rr) in zip(guess, right(sid), strict=True):
            if normalized(f) == normalized(rf):
                total += 1 + (normalized(r) == normalized(rr))
        return total
    c["predict"]["alice"] = Submission({"predict-answer": f"PREDICTIONS = {right('alice')!r}"},
                                       {"predict-grade": 6})
    for name, guess in [("always-completes", lambda sid: [("completes", "0")] * 3),
                        ("always-oops", lambda sid: [("oops", "nothing")] * 3),
                        ("shifted", lambda sid: right(sid)[1:] + right(sid)[:1])]:
        sid = f"predict-{name}"
        want = points(sid, guess(sid))
        assert want <= 2, (name, want)  # a third at most
        c["predict"][sid] = Submission({"predict-answer": f"PREDICTIONS = {guess(sid)!r}"},
                                       {"predict-grade": want})


# --- the attackers ----------------------------------------------------------------------

#: Reaches ``os`` without importing it, through the classes every interpreter has (restricted
#: builtins are no sandbox), writes a full-marks part and score on every descriptor it holds
#: (the old worker's protocol pipe among them) and ends the process before the grader can.
ESCAPE = """\
for c in ().__class__.__base__.__subclasses__():
    if c.__name__ == "_wrap_close":
        os = c.__init__.__globals__["sys"].modules["os"]
fake = b'{"part": {"name": "safe against a writer", "points": 2, "max_points": 2}}\\n'
fake += b'{"values": {"read_snapshot": 6}}\\n{"return": [1, 1]}\\n'
for fd in range(0, 20):
    try:
        os.write(fd, fake)
    except OSError:
        pass
os._exit(0)
"""

#: A wrong reader (2 of 6 on its merits) that prints a full score, nbgrader-like output and
#: a megabyte of noise.
FAKE_OUTPUT = _reader("    return (read_a(), read_b())") + """\
print("seqcount: 6/6 (pass)")
print('{"output_type": "execute_result", "data": {"text/plain": "6"}}')
print("x" * (1 << 20))
"""

#: An extra cell that, were it run, would mark that it ran, rewrite a classmate's answer to
#: raise NotImplementedError, give itself full marks in the gradebook, and leave code that runs
#: in a later grader (a .pth and sitecustomize.py in site-packages, an IPython startup file, a
#: kernel spec with PYTHONSTARTUP) and a detached process that strikes again after autograde.
#: IPYTHONDIR and JUPYTER_PATH point into {MARK} for the round trip.
SABOTAGE = """\
import glob, json, os, sqlite3, subprocess, sys
open("{MARK}/sabotage-ran", "w").write("ran")
for path in glob.glob("{ROOT}/submitted/*/vma_has_changed/*.ipynb"):
    if "/alice/" in path:
        nb = json.load(open(path))
        for c in nb["cells"]:
            if c["metadata"].get("nbgrader", {}).get("grade_id") == "vma-answer":
                c["source"] = "raise NotImplementedError()"
        json.dump(nb, open(path, "w"))
db = sqlite3.connect("{ROOT}/gradebook.db")
db.execute("update grade set auto_score = max_score, manual_score = max_score")
db.commit()
open("{SITE}/zz_spfteach_attack.pth", "w").write("import os; os.system('touch {MARK}/pth-ran')")
open("{SITE}/sitecustomize.py", "w").write("open('{MARK}/sitecustomize-ran', 'w')")
startup = os.path.join(os.environ["IPYTHONDIR"], "profile_default", "startup")
os.makedirs(startup)  # code every later IPython kernel of this user would run first
open(os.path.join(startup, "00-attack.py"), "w").write("import os")
spec = os.path.join(os.environ["JUPYTER_PATH"], "kernels", "python3")
os.makedirs(spec)  # a kernel that starts with PYTHONSTARTUP set to the attacker's file
open(os.path.join(spec, "kernel.json"), "w").write(json.dumps({
    "argv": [sys.executable, "-m", "ipykernel", "-f", "{connection_file}"],
    "display_name": "Python 3", "language": "python",
    "env": {"PYTHONSTARTUP": "{MARK}/startup.py"}}))
subprocess.Popen([sys.executable, "-c", "import time, sqlite3; time.sleep(5); "
                  "d = sqlite3.connect('{ROOT}/gradebook.db'); "
                  "d.execute('update grade set auto_score = max_score'); d.commit()"],
                 start_new_session=True)
"""


def _attackers(c: dict[str, dict[str, Submission]]) -> None:
    """Each attack, on the exercise where it is graded, with the score it must get: what its
    answer earns on its merits (usually nothing), never more."""
    order = '["check_vma", "read_pmd", "pmd_same", "lockptr", "trylock", "recheck_vma"]'
    seq = {
        "escape": (ESCAPE, 0),
        "forkbomb": ("import os\nwhile True:\n    os.fork()\n", 0),
        "memory": ("x = bytearray(4 << 30)\n", 0),
        "bigfile": ("f = open('/tmp/big', 'wb')\nfor i in range(1024):\n"
                    "    f.write(b'x' * (1 << 20))\n", 0),
        # {PORT}: a server the test listens with on the host's loopback.
        "network": ("import socket\nsocket.create_connection(('127.0.0.1', {PORT}), timeout=5)"
                    "\n", 0),
        "tty": ("open('/dev/tty', 'w').write('graded 6/6')\n", 0),
        "kill": ("import os\nos.kill(os.getppid(), 9)\nos.kill(-1, 9)\n", 0),
        "loop": ("while True:\n    pass\n", 0),
        "fake-output": (FAKE_OUTPUT, 2),
        "sys": ("import sys\nsys.modules['os'].listdir('{ROOT}')\n", 0),
        "subprocess": ("import subprocess\nsubprocess.run(['sh', '-c', 'cat {ROOT}/gradebook.db'"
                       "])\n", 0),
        "ctypes": ("import ctypes\nlibc = ctypes.CDLL(None)\n"
                   "assert libc.open(b'{ROOT}/gradebook.db', 2) >= 0\n", 0),
        # The grader's own glue, found in memory, made to answer for the cell: the forged
        # answer is the cell's answer, and it holds nothing.
        "gc": ("import gc\nfor o in gc.get_objects():\n    if type(o).__name__ == 'Glue':\n"
               "        o.send({'values': {'read_snapshot': 6}})\n", 0),
    }
    for name, (src, pts) in seq.items():
        c["seqcount"][f"attack-{name}"] = Submission({"seq-answer": src}, {"seq-grade": pts})
    vma = {
        "reads-classmates": ("import glob\nx = open('{ROOT}/submitted/alice/vma_has_changed/"
                             "vma_has_changed.ipynb').read()\n" + _vma("    return False")),
        "gradebook": ("import sqlite3\nd = sqlite3.connect('{ROOT}/gradebook.db')\n"
                      "d.execute('update grade set auto_score = max_score')\n"
                      + _vma("    return False")),
        "site-packages": ("import site\nopen('{SITE}/zz_spfteach_attack.pth', 'w')"
                          ".write('import os')\n" + _vma("    return False")),
        "spfteach-files": ("open('{PKG}/grading/judge.py', 'a').write('# changed')\n"
                           + _vma("    return False")),
        "source-release": ("print(open('{ROOT}/source/vma_has_changed/vma_has_changed.ipynb')"
                           ".read())\n" + _vma("    return False")),
        "detached": ("import os, time\nif os.fork() == 0:\n    try:\n        os.setsid()\n"
                     "        time.sleep(3)\n        open('{ROOT}/gradebook.db', 'w')\n"
                     "    finally:\n        os._exit(0)\n"
                     + _vma("    return vm_detached or vm_sequence_now != seq_at_start")),
    }
    for name, src in vma.items():
        pts = 6 if name == "detached" else 0
        c["vma_has_changed"][f"attack-{name}"] = Submission(
            {"vma-answer": src, "order-answer": f"ORDER = {order}"},
            {"vma-grade": pts, "order-grade": 3})
    # Cells added to the notebook: never run at autograde.  Only vm_detached: 2 of 6 on its
    # merits (safe in fault-vs-munmap).
    c["vma_has_changed"]["attack-sabotage"] = Submission(
        {"vma-answer": _vma("    return vm_detached"), "order-answer": f"ORDER = {order}"},
        {"vma-grade": 2, "order-grade": 3}, extra=(SABOTAGE, CHEAT))
    # The grader's own tables, imported from the answer cell: the jail has no spfteach.
    c["vma_locks"]["attack-grader-tables"] = Submission(
        {"locks-answer": "from spfteach.grading import exercises\n"
                         "WRITERS = list(exercises.VMA_LOCK_RELIED)\n"}, {"locks-grade": 0})
    # Ids: the grade is for the id nbgrader grades, whatever the notebook said it checked as.
    right = _walk_answers("carol", lambda a, v: v)
    c["walk"]["carol"] = Submission({"walk-answer": right}, {"walk-grade": 4},
                                    claims={"walk-problem": 'student id: "Carol " (from '
                                            'SPFTEACH_STUDENT_ID)'})
    # dave hands in alice's answer cell (checked as alice): graded on dave's addresses.
    dave_right = sum(exercises.walk_expected("dave", a) == exercises.walk_expected("alice", b)
                     for a, b in zip(exercises.walk_questions("dave"),
                                     exercises.walk_questions("alice"), strict=True))
    c["walk"]["dave"] = Submission(
        {"walk-answer": _walk_answers("alice", lambda a, v: v)}, {"walk-grade": dave_right},
        claims={"walk-problem": 'student id: "alice" (from SPFTEACH_STUDENT_ID)'})


CLASS = _class()


# --- the round trip ---------------------------------------------------------------------


@dataclass
class Course:
    root: Path
    log: str
    scores: dict[tuple[str, str, str], float | None]  # (assignment, student, cell) -> auto
    max_scores: dict[tuple[str, str], float]  # (assignment, cell) -> points
    mark: Path  # where a cell that ran outside a jail would have left a file
    before: dict[str, str]  # files no attack may change -> their digest before autograde
    jailed_left: list[str]  # jail processes alive right after each autograde returned
    late_scores: dict[tuple[str, str, str], float | None]  # the scores 4 s after the last one


def _digests(root: Path) -> dict[str, str]:
    """What an attacker would change: the honest classmates' submissions, the source and
    release notebooks, the installed spfteach, and what is in site-packages."""
    files = [*(root / "submitted").glob("alice/*/*.ipynb"), *(root / "source").glob("*/*.ipynb"),
             *(root / "release").glob("*/*.ipynb"), *PKG.rglob("*.py")]
    out = {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    out["site-packages"] = "\n".join(sorted(p.name for p in SITE.iterdir()))
    return out


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _jail_processes() -> list[str]:
    """Processes of a jail (their command line names the glue), anywhere on the machine but
    under another pytest-xdist worker: those are the jails of the tests running beside this
    one (test_jail, test_grading), alive and still their judges'. One that autograde left
    behind is an orphan, or under a judge that outlived it: it is counted."""
    me = os.getpid()
    siblings = {int(d.name) for d in Path("/proc").iterdir()
                if d.name.isdigit() and int(d.name) != me and _ppid(int(d.name)) == os.getppid()
                } if os.environ.get("PYTEST_XDIST_WORKER") else set()
    found = []
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "/jail/glue.py" not in cmd or not d.name.isdigit():
            continue
        pid, beside = int(d.name), False
        while pid > 1 and not beside:
            pid = _ppid(pid)
            beside = pid in siblings
        if not beside:
            found.append(f"{d.name}: {cmd[:80]}")
    return found


def _scores(root: Path) -> dict[tuple[str, str, str], float | None]:
    from nbgrader.api import Gradebook

    scores: dict[tuple[str, str, str], float | None] = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for a in ASSIGNMENTS:
            for sid in CLASS[a]:
                nb = gb.find_submission_notebook(a, a, sid)
                for g in nb.grades:
                    scores[(a, sid, g.name)] = g.auto_score
    return scores


def _nbgrader(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {}))
    for var in ("NBGRADER_EXECUTION", "JUPYTERHUB_USER"):
        env.pop(var, None)
    r = subprocess.run([str(BIN / "nbgrader"), *args], cwd=root, env=env, capture_output=True,
                       text=True, timeout=1200)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{out[-4000:]}"
    assert "Exception while loading config file" not in out, out[-4000:]
    return out


SITE = Path(next(p for p in sys.path if p.endswith("site-packages")))
PKG = Path(exercises.__file__).resolve().parent.parent


def _fill(release: Path, sub: Submission, dest: Path, places: dict[str, str]) -> None:
    def place(src: str) -> str:
        for k, v in places.items():
            src = src.replace("{" + k + "}", v)
        return src
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in sub.answers:
            cell.source = place(sub.answers[gid])
        if sub.claims and gid in sub.claims:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=sub.claims[gid] + "\n")]
    for src in sub.extra:
        nb.cells.append(nbformat.v4.new_code_cell(place(src)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Course:
    root = tmp_path_factory.mktemp("course")
    mark = tmp_path_factory.mktemp("ran")
    shutil.copytree(COURSE, root, dirs_exist_ok=True)
    server = socket.create_server(("127.0.0.1", 0))  # the host's loopback, listening
    places = {"ROOT": str(root), "SITE": str(SITE), "PKG": str(PKG), "MARK": str(mark),
              "PORT": str(server.getsockname()[1])}
    log = []
    left: list[str] = []
    for a in ASSIGNMENTS:
        log.append(_nbgrader(root, "generate_assignment", a, "--force"))
    release = {a: root / "release" / a / f"{a}.ipynb" for a in ASSIGNMENTS}
    for a in ASSIGNMENTS:
        for sid, sub in CLASS[a].items():
            src = root / "source" / a / f"{a}.ipynb"
            _fill(src if sid == "alice" else release[a], sub,
                  root / "submitted" / sid / a / f"{a}.ipynb", places)
    before = _digests(root)
    where = {"IPYTHONDIR": str(mark / "ipython"), "JUPYTER_PATH": str(mark / "jupyter")}
    for a in ASSIGNMENTS:
        log.append(_nbgrader(root, "autograde", a, "--force", env=where))
        left += _jail_processes()
        log.append(_nbgrader(root, "generate_feedback", a, "--force"))
    log.append(_nbgrader(root, "export"))
    from nbgrader.api import Gradebook

    scores = _scores(root)
    max_scores: dict[tuple[str, str], float] = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for a in ASSIGNMENTS:
            for g in gb.find_submission_notebook(a, a, "alice").grades:
                max_scores[(a, g.name)] = g.max_score
    server.close()
    time.sleep(4)  # longer than the detached attacks wait before they strike
    course = Course(root, "\n".join(log), scores, max_scores, mark, before, left,
                    _scores(root))
    _report(course)
    return course


ARTIFACTS = ROOT / "test-artifacts" / "course"


def _report(course: Course) -> None:
    """The scores of the round trip and every feedback page, kept for a person to read
    (test-artifacts/course/: scores.txt, feedback/<student>/<assignment>.html)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    lines = []
    for (a, sid, cell), got in sorted(course.scores.items()):
        top = course.max_scores[(a, cell)]
        lines.append(f"{a:16} {sid:36} {cell:12} "
                     f"{'manual' if got is None else f'{got:g}'}/{top:g}")
    (ARTIFACTS / "feedback").mkdir(parents=True)
    (ARTIFACTS / "scores.txt").write_text("\n".join(lines) + "\n")
    for page in (course.root / "feedback").glob("*/*/*.html"):
        dest = ARTIFACTS / "feedback" / page.parent.parent.name / page.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(page, dest)


def _feedback(course: Course, a: str, sid: str) -> str:
    return html.unescape((course.root / "feedback" / sid / a / f"{a}.html").read_text())


# --- what it must show ------------------------------------------------------------------


def test_every_assignment_is_in_the_class() -> None:
    assert ASSIGNMENTS == ["break_it", "predict", "seqcount", "vma_has_changed", "vma_locks",
                           "walk"]
    for a in ASSIGNMENTS:
        assert "alice" in CLASS[a] and "blank" in CLASS[a], a  # the reference, the release
        wrong = [s for s in CLASS[a] if s not in ("alice", "blank")]
        assert len(wrong) >= 3, a


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_release_has_no_solution_and_no_hidden_test(course: Course, a: str) -> None:
    src_nb = nbformat.read(course.root / "source" / a / f"{a}.ipynb", as_version=4)
    nb = nbformat.read(course.root / "release" / a / f"{a}.ipynb", as_version=4)
    source = "\n".join(c.source for c in src_nb.cells)
    release = "\n".join(c.source for c in nb.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "autograded_outside"):
        assert marker in source and marker not in release, marker
    # Every line of every solution region is gone (the reference answers, not just markers),
    # and so is every manually graded cell's model answer.
    regions = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", source, re.S)
    regions += [c.source for c in src_nb.cells if c.cell_type == "markdown"
                and c.metadata.get("nbgrader", {}).get("grade")]
    assert regions
    given = "\n".join(c.source for c in src_nb.cells  # the problem text may quote a signature
                      if not c.metadata.get("nbgrader", {}).get("solution"))
    for region in regions:
        for line in region.splitlines():
            if len(line.strip()) > 12 and line.strip() not in given:
                assert line.strip() not in release, line
    manual = [c for c in nb.cells if c.cell_type == "markdown"
              and c.metadata.get("nbgrader", {}).get("grade")]
    assert len(manual) == 1 and "YOUR ANSWER HERE" in manual[0].source, "one explain-why answer"
    # the source's explain-why cell holds the model answer and a rubric (2, 1, 0) for the TAs
    rubric = [c.source for c in src_nb.cells if c.cell_type == "markdown"
              and c.metadata.get("nbgrader", {}).get("grade")]
    assert len(rubric) == 1 and all(k in rubric[0] for k in ("**Rubric**", "- **2**",
                                                             "- **1**", "- **0**"))
    assert "Rubric" not in release
    locked = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("locked")]
    assert locked and all(c.metadata.get("deletable") is False for c in locked)


def test_hidden_calls_name_an_exercise_and_an_answer(course: Course) -> None:
    """Each assignment's grade cells, as the gradebook restores them at autograde, call the
    grader with an exercise and the answer cell to grade, and nothing else."""
    from nbgrader.api import Gradebook

    from spfteach.grading.nbgrader_plugin import hidden_call

    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
        for a in ASSIGNMENTS:
            calls = [hidden_call(c.source) for c in gb.find_notebook(a, a).source_cells]
            calls = [c for c in calls if c is not None]
            assert calls and all(set(c) == {"exercise", "answer"} for c in calls), calls


def _grade_output(course: Course, a: str, sid: str, gid: str) -> str:
    """The text autograde wrote into grade cell ``gid`` of ``sid``'s notebook."""
    nb = nbformat.read(course.root / "autograded" / sid / a / f"{a}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


#: (assignment, attacker, grade cell) -> the one line of its feedback that says what was
#: refused.  The scores are in CLASS (test_scores).
REFUSED = {
    ("seqcount", "attack-escape", "seq-grade"):
        "the jail answered something that is not the protocol",
    ("seqcount", "attack-forkbomb", "seq-grade"):
        "BlockingIOError: [Errno 11] Resource temporarily unavailable at line 3 of your code: "
        "os.fork()",
    ("seqcount", "attack-memory", "seq-grade"):
        "MemoryError at line 1 of your code: x = bytearray(4 << 30)",
    ("seqcount", "attack-bigfile", "seq-grade"):
        "OSError: [Errno 27] File too large at line 3 of your code: f.write(b'x' * (1 << 20))",
    ("seqcount", "attack-network", "seq-grade"):
        "ConnectionRefusedError: [Errno 111] Connection refused at line 2 of your code",
    ("seqcount", "attack-tty", "seq-grade"):
        "OSError: [Errno 6] No such device or address: '/dev/tty' at line 1 of your code",
    ("seqcount", "attack-kill", "seq-grade"):
        "ProcessLookupError: [Errno 3] No such process at line 3 of your code: os.kill(-1, 9)",
    ("seqcount", "attack-loop", "seq-grade"): "timed out after 20 s",
    ("seqcount", "attack-fake-output", "seq-grade"):
        "your code printed (shown as text, not graded):",
    ("seqcount", "attack-sys", "seq-grade"):
        "FileNotFoundError: [Errno 2] No such file or directory:",
    ("seqcount", "attack-subprocess", "seq-grade"):
        "FileNotFoundError: [Errno 2] No such file or directory: 'sh' at line 2 of your code",
    ("seqcount", "attack-ctypes", "seq-grade"): "AssertionError at line 3 of your code: "
        "assert libc.open(",
    ("seqcount", "attack-gc", "seq-grade"): "[0/2] safe against a writer: read_snapshot is not "
        "a function (your cell set it to 6)",
    ("vma_has_changed", "attack-reads-classmates", "vma-grade"):
        "FileNotFoundError: [Errno 2] No such file or directory:",
    ("vma_has_changed", "attack-gradebook", "vma-grade"):
        "OperationalError: unable to open database file at line 2 of your code",
    ("vma_has_changed", "attack-site-packages", "vma-grade"):
        "FileNotFoundError: [Errno 2] No such file or directory:",
    ("vma_has_changed", "attack-spfteach-files", "vma-grade"):
        "FileNotFoundError: [Errno 2] No such file or directory:",
    ("vma_has_changed", "attack-source-release", "vma-grade"):
        "FileNotFoundError: [Errno 2] No such file or directory:",
    ("vma_has_changed", "attack-sabotage", "vma-grade"):
        "not run: 2 code cells you added (autograde runs only your answer cells, each alone "
        "in a jail)",
    ("vma_locks", "attack-grader-tables", "locks-grade"):
        "ModuleNotFoundError: No module named 'spfteach' at line 1 of your code",
    ("walk", "carol", "walk-grade"):
        "note: your notebook checked as 'Carol ', but you are graded as 'carol'",
    ("walk", "dave", "walk-grade"):
        "note: your notebook checked as 'alice', but you are graded as 'dave'",
}


@pytest.mark.parametrize("where", sorted(REFUSED), ids=lambda w: f"{w[1]}")
def test_each_attack_says_what_was_refused_in_one_line(course: Course, where) -> None:
    a, sid, gid = where
    text = _grade_output(course, a, sid, gid)
    lines = [line for line in text.splitlines() if REFUSED[where] in line]
    assert lines, f"{sid}: no line says {REFUSED[where]!r}:\n{text[:3000]}"
    if sid in ("carol", "dave"):  # the id note comes first, and says why on the next line
        first, why = text.splitlines()[:2]
        assert first == REFUSED[where], text[:500]
        assert why == ("      (from SPFTEACH_STUDENT_ID; ids ignore case and surrounding spaces: "
                       "the same problem)" if sid == "carol" else
                       "      (from SPFTEACH_STUDENT_ID; the id nbgrader grades is the one that "
                       "counts: your answers are checked against the problem of 'dave')"), why


def test_the_attacks_changed_nothing_but_their_own_grade(course: Course) -> None:
    """No cell ran outside a jail (nothing marked, nothing written to site-packages, no
    classmate's, source or release notebook and no spfteach file changed); no jail process
    outlived autograde; and the gradebook 4 s later holds what autograde wrote (the detached
    attacks would have struck by then)."""
    assert sorted(p.name for p in course.mark.iterdir()) == []
    after = _digests(course.root)
    changed = [f for f, d in course.before.items() if after.get(f) != d]
    assert changed == [], changed
    assert course.jailed_left == []
    assert course.late_scores == course.scores
    assert not (SITE / "zz_spfteach_attack.pth").exists()
    assert not (SITE / "sitecustomize.py").exists()


def test_fake_output_is_text_and_bounded(course: Course) -> None:
    """What the code printed is shown as text, a few lines of it cut to 90 characters, and
    changes no score: the printed "6/6" stays text under the grader's own 2/6."""
    text = _grade_output(course, "seqcount", "attack-fake-output", "seq-grade")
    assert "seqcount: 2/6 (partial)" in text
    assert "    | seqcount: 6/6 (pass)" in text and "    | " + "x" * 90 + "\n" in text
    assert "x" * 91 not in text and len(text) < 20_000, len(text)


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_scores(course: Course, a: str) -> None:
    """Reference: full marks; blank: zero on every autograded part; wrong answers: what
    their mistakes earn (partial); manual answers wait for the instructor."""
    for sid, sub in CLASS[a].items():
        for cell, want in sub.expect.items():
            got = course.scores[(a, sid, cell)]
            top = course.max_scores[(a, cell)]
            if want is None:
                assert got is not None and 0 < got < top, (sid, cell, got)
            else:
                assert got == want, (sid, cell, got, want)
    why = [k for k in course.scores if k[0] == a and k[2].endswith("-why")]
    assert why and all(course.scores[k] in (None, 0) for k in why)
    assert course.scores[(a, "blank", why[0][2])] == 0  # an untouched answer is zero


def test_wrong_answers_get_the_counterexample_in_the_feedback(course: Course) -> None:
    fb = _feedback(course, "vma_has_changed", "vma-ignores-detached")
    assert "breaks use-after-free" in fb
    sched = re.search(r"shortest schedule: ([0-9*,]+) \((\d+) steps\)", fb)
    assert sched, fb[:2000]
    assert 'RaceStepper("fault-vs-munmap", schedule="' in fb
    fb = _feedback(course, "vma_has_changed", "vma-masks-odd-bit")
    assert "fault-vs-split" in fb and "shortest schedule: " in fb
    assert ("not in your order: fault-vs-thp-collapse-v9, run with your order, breaks oops"
            in fb)  # its wrong order, run in the model
    fb = _feedback(course, "vma_locks", "locks-no-munmap")
    assert ("munmap: left out, but with its vma_start_write() removed fault-vs-munmap (per-VMA "
            "locks) breaks ") in fb and "shortest schedule: " in fb
    fb = _feedback(course, "vma_locks", "locks-spf-answer")
    assert "khugepaged_collapse: left out" in fb and "mbind: left out" in fb
    fb = _feedback(course, "seqcount", "seq-no-retry")
    assert "breaks torn-snapshot" in fb and "shortest schedule: " in fb
    fb = _feedback(course, "walk", next(s for s in CLASS["walk"] if "forgot-offset" in s))
    assert "the walk gives" in fb and "<- the walk stops here" in fb
    fb = _feedback(course, "break_it", next(s for s in CLASS["break_it"] if "nothing" in s))
    assert "every invariant holds" in fb and "RaceStepper(" in fb


def test_an_infinite_loop_times_out_and_the_rest_is_graded(course: Course) -> None:
    fb = _feedback(course, "vma_has_changed", "vma-loops")
    assert "safe and useful in fault-vs-munmap: timed out after 20 s" in fb
    assert "[2/2] safe and useful in fault-vs-mprotect" in fb
    assert "[2/2] safe and useful in fault-vs-split" in fb


def test_an_exception_is_named_at_the_students_line(course: Course) -> None:
    fb = _feedback(course, "vma_has_changed", "vma-raises")
    assert "ZeroDivisionError: division by zero at line 2 of your code" in fb
    assert "Traceback" not in fb.split("vma-grade")[-1][:3000]


def test_rebinding_the_grader_changes_nothing(course: Course) -> None:
    assert course.scores[("vma_has_changed", "vma-cheats", "vma-grade")] == 0
    fb = _feedback(course, "vma_has_changed", "vma-cheats")
    assert "vma_has_changed: 0/6 (fail)" in fb


def test_autograde_executes_no_cell(course: Course) -> None:
    """Nothing of a notebook runs at autograde: every code cell but the grade cells is left
    without outputs (the widgets included), and each grade cell holds the grader's output."""
    for a in ASSIGNMENTS:
        for sid in ("alice", "blank"):
            nb = nbformat.read(course.root / "autograded" / sid / a / f"{a}.ipynb",
                               as_version=4)
            for c in nb.cells:
                if c.cell_type != "code":
                    continue
                graded = c.metadata.get("nbgrader", {}).get("grade")
                assert bool(c.outputs) == bool(graded), (a, sid, c.source[:80])
    assert "Executing notebook" not in course.log


def test_export_writes_every_grade(course: Course) -> None:
    rows = list(csv.DictReader((course.root / "grades.csv").open()))
    got = {(r["assignment"], r["student_id"]): float(r["raw_score"]) for r in rows}
    for a in ASSIGNMENTS:
        for sid in CLASS[a]:
            auto = sum(v or 0 for k, v in course.scores.items() if k[:2] == (a, sid))
            assert got[(a, sid)] == pytest.approx(auto), (a, sid)
    assert got[("vma_has_changed", "alice")] == 12 and got[("vma_has_changed", "blank")] == 0


def test_source_notebooks_validate(course: Course) -> None:
    """`nbgrader validate` of each source notebook (its reference answers, written for the
    student id alice): every grade cell passes, graded from the instructor's kernel (the hidden
    call grades in place there, the answer in a jail)."""
    for a in ASSIGNMENTS:
        out = _nbgrader(course.root, "validate", f"source/{a}/{a}.ipynb",
                        env={"SPFTEACH_STUDENT_ID": "alice"})
        assert "Success! Your notebook passes all the tests." in out, out[-3000:]
    # The blank release does not pass (a validate that cannot fail would prove nothing).
    out = _nbgrader(course.root, "validate", "release/walk/walk.ipynb")
    assert "VALIDATION FAILED" in out or "NotImplementedError" in out, out[-3000:]


def test_without_bubblewrap_autograde_refuses_and_grades_nothing(course: Course,
                                                                  tmp_path: Path) -> None:
    """On a machine without the jail, autograde fails for each submission with one line
    naming what is missing, first among its errors, and writes no grade."""
    root = tmp_path / "course"
    shutil.copytree(course.root, root)
    shutil.rmtree(root / "autograded")
    env = dict(os.environ, PATH=str(BIN))  # nbgrader and alembic, and no bwrap
    r = subprocess.run([str(BIN / "nbgrader"), "autograde", "seqcount", "--force"], cwd=root,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0
    errors = [line for line in (r.stdout + r.stderr).splitlines() if "| ERROR]" in line]
    assert errors[0] == ("[AutogradeApp | ERROR] spfteach: grading needs bubblewrap to confine "
                         "the student's code: apt-get install bubblewrap (make setup installs it)")
    assert not list((root / "autograded").glob("*/seqcount/*.ipynb"))
    assert _scores(root) == course.scores  # the grades of the round trip, untouched


def test_a_judge_that_fails_grades_nothing(course: Course, tmp_path: Path) -> None:
    """A bug of spfteach (here a judge process that aborts) is no grade of the student's:
    autograde fails for the submission, says why first among its errors, and writes nothing."""
    root = tmp_path / "course"
    shutil.copytree(course.root, root)
    shutil.rmtree(root / "autograded")
    with open(root / "nbgrader_config.py", "a") as f:
        f.write("\n\nclass Aborting(nbgrader_plugin.Regrade):\n    judge = ('os', 'abort')\n\n\n"
                "c.Autograde.autograde_preprocessors = [\n"
                "    Aborting if p is nbgrader_plugin.Regrade else p\n"
                "    for p in c.Autograde.autograde_preprocessors]\n")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    r = subprocess.run([str(BIN / "nbgrader"), "autograde", "walk", "--student", "alice",
                        "--force"], cwd=root, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode != 0
    errors = [line for line in (r.stdout + r.stderr).splitlines() if "| ERROR]" in line]
    assert errors[0] == ("[AutogradeApp | ERROR] spfteach: alice walk: not graded: the judge "
                         "process died (a bug of spfteach: please report it)"), errors[:3]
    assert not list((root / "autograded").glob("*/walk/*.ipynb"))
    assert _scores(root) == course.scores


def test_the_class_report(course: Course, tmp_path: Path) -> None:
    """`spfteach grading report` on the graded class: every assignment and part with its
    counts, the most common wrong outcomes with the students who share them, the students to
    talk to, and the picture (kept in test-artifacts/course/report.png); the instructor's
    notebook shows the same."""
    png = ARTIFACTS / "report.png"
    r = subprocess.run([str(BIN / "spfteach"), "grading", "report", str(course.root), "--png",
                        str(png)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for a in ASSIGNMENTS:
        assert f"\n{a}: {len(CLASS[a])} students" in out, a
    assert "  safe against a writer (2 points): 1 full, 0 partial, 17 none" in out
    assert ("4 x safe against a writer: breaks torn-snapshot (attack-fake-output, "
            "seq-no-odd-test, seq-no-retry, seq-odd-test-no-retry)") in out
    assert "x it breaks the mutant and only the mutant: the schedule breaks nothing" in out
    assert "  address 1 (1 points):" in out  # the walk's parts by position, not address
    assert "to talk to (below 40% of the autograded points): blank 0/4" in out
    assert png.stat().st_size > 30_000
    bad = subprocess.run([str(BIN / "spfteach"), "grading", "report", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("spfteach: error: no gradebook in ")
    nb = nbformat.read(COURSE / "class-report.ipynb", as_version=4)
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(course.root)}}).execute()
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in shown)
    assert any("most common wrong outcomes" in o.get("text", "") for o in shown)
