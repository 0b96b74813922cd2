"""The jail the student's code runs in (spfteach/grading/jail.py): what it lets a cell see and
do, what it refuses, that it leaves nothing behind, that its protocol takes nothing on trust,
and that a machine without it refuses in one line instead of grading unconfined.

Attacks through a real ``nbgrader autograde`` are in tests/grading/test_course.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spfteach.grading import jail as J
from spfteach.grading.jail import STOP, Budget, Jail, JailFailure, Primitive, StudentError
from tests.paths import ROOT


def _load(src: str, names: list[str], seconds: float = 10, jail: type[Jail] = Jail,
          **kw) -> dict:
    with jail(budget=Budget(seconds=seconds), **kw) as j:
        return j.load(src, names)


def _fails(src: str, seconds: float = 10) -> str:
    with pytest.raises(StudentError) as e:
        _load(src, ["x"], seconds)
    return str(e.value)


# --- what the cell sees --------------------------------------------------------------------

def test_every_namespace_is_new_and_nothing_is_privileged() -> None:
    got = _load("import os\nns = {n: os.readlink('/proc/self/ns/' + n) for n in "
                "('user', 'pid', 'net', 'ipc', 'mnt', 'uts', 'cgroup')}\n"
                "caps = [l for l in open('/proc/self/status') if l.startswith('CapEff')]\n"
                "ids = (os.getuid(), os.getgid(), os.getpid(), os.getppid())\n"
                "import socket\nhost = socket.gethostname()\n", ["ns", "caps", "ids", "host"])
    mine = {n: os.readlink(f"/proc/self/ns/{n}") for n in got["ns"]}
    assert all(got["ns"][n] != mine[n] for n in mine), (got["ns"], mine)
    assert got["caps"] == ["CapEff:\t0000000000000000\n"]
    assert got["ids"] == (J.INSIDE_ID, J.INSIDE_ID, 2, 1)  # bubblewrap's init is PID 1
    assert got["host"] == "jail"


def test_the_view_is_the_interpreter_and_nothing_of_ours() -> None:
    got = _load(
        "import os, sys\n"
        "top = sorted(os.listdir('/'))\n"
        "etc = sorted(os.listdir('/etc'))\n"
        "tmp = os.listdir('/tmp')\n"
        "env = dict(os.environ)\n"
        "mods = sorted(m for m in sys.modules if m.startswith(('spfteach', 'nbgrader')))\n"
        f"ours = [os.path.exists(p) for p in ({str(ROOT)!r}, '/home', '/root', '/work', "
        "'/var', '/usr/local', '/usr/lib/python3/dist-packages')]\n"
        "site = [p for p in sys.path if os.path.isdir(p) and os.listdir(p) and "
        "p.endswith(('site-packages', 'dist-packages'))]\n"
        "try:\n    import spfteach\n    imp = 'imported'\nexcept ImportError:\n"
        "    imp = 'no spfteach'\n", ["top", "etc", "tmp", "env", "mods", "ours", "site", "imp"])
    assert set(got["top"]) <= {"bin", "dev", "etc", "jail", "lib", "lib64", "proc", "tmp",
                               "usr"}, got["top"]
    assert got["etc"] == ["ld.so.cache"] and got["tmp"] == []
    assert set(got["env"]) <= {"PATH", "HOME", "LANG", "PYTHONHASHSEED", "PWD"}, got["env"]
    assert got["mods"] == [] and got["imp"] == "no spfteach" and got["site"] == []
    assert got["ours"] == [False] * 7


def test_everything_is_read_only_but_a_private_bounded_tmp() -> None:
    for path in ("/x", "/usr/lib/x", "/usr/lib/x86_64-linux-gnu/x", "/jail/glue.py", "/dev/x"):
        assert "Read-only file system" in _fails(f"open({path!r}, 'a')\n"), path
    with Jail() as j:
        assert j.load("open('/tmp/t', 'w').write('mine')\nx = open('/tmp/t').read()\n",
                      ["x"]) == {"x": "mine"}
    # A new jail, a new /tmp.
    assert _load("import os\nx = os.listdir('/tmp')\n", ["x"]) == {"x": []}
    assert "File too large" in _fails("f = open('/tmp/big', 'wb')\nfor i in range(64):\n"
                                      "    f.write(b'x' * (1 << 20))\n")


# --- what the cell may not do ---------------------------------------------------------------

@pytest.mark.parametrize(("src", "said"), [
    ("x = bytearray(4 << 30)\n", "MemoryError at line 1"),
    ("import os\nwhile True:\n    os.fork()\n", "BlockingIOError: [Errno 11]"),
    ("fs = [open('/dev/null') for i in range(100)]\n", "Too many open files"),
    ("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=5)\n",
     "Network is unreachable"),
    ("open('/dev/tty', 'w')\n", "No such device or address: '/dev/tty'"),
    ("import ctypes\nassert ctypes.CDLL(None).unshare(0x10000000) == 0\n",  # CLONE_NEWUSER
     "AssertionError at line 2"),
    ("import os\nos.setuid(0)\n", "OSError: [Errno 22] Invalid argument"),  # 0 is unmapped
    ("import subprocess\nsubprocess.run(['sh', '-c', 'id'])\n", "No such file or directory: 'sh'"),
])
def test_refused(src: str, said: str) -> None:
    assert said in _fails(src)


def test_a_loop_costs_its_budget_and_a_dead_jail_says_how_it_died() -> None:
    t = time.monotonic()
    assert _fails("while True:\n    pass\n", seconds=2) == "timed out after 2 s"
    assert time.monotonic() - t < 10
    assert _fails("import os\nos._exit(3)\n") == ("your code ended the grader's process "
                                                  "(exit status 3)")
    assert _fails("import os\nos.kill(os.getpid(), 9)\n") == ("your code's process was killed "
                                                              "(SIGKILL)")
    # Its parent is the jail's init: killing it does nothing, and the jail still answers.
    assert _load("import os\nos.kill(os.getppid(), 9)\nx = 1\n", ["x"]) == {"x": 1}


def _glue_processes() -> list[int]:
    """The processes running the glue (bubblewrap's own name it too, on its command line)."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
            if b"/jail/glue.py" in argv and not argv[0].endswith(b"bwrap"):
                out.append(int(d.name))
        except (OSError, ValueError):
            continue
    return out


def test_nothing_outlives_the_jail() -> None:
    """A child that leaves the session and sleeps, a fork bomb's children: all gone once the
    jail is closed, and no zombie is left to the host's init."""
    with Jail() as j:
        j.load("import os, time\nfor i in range(3):\n    if os.fork() == 0:\n"
               "        os.setsid()\n        time.sleep(60)\n        os._exit(0)\nx = 1\n", ["x"])
        assert len(_glue_processes()) == 4
        child = j.child_pid
    time.sleep(0.2)
    assert _glue_processes() == []
    assert not Path(f"/proc/{child}").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="as any other user the jail is that user")
def test_a_root_judge_never_runs_a_root_jail() -> None:
    """RLIMIT_NPROC does not bind uid 0: the jail of a root judge runs as an unused uid."""
    with Jail() as j:
        j.load("x = 1\n", ["x"])
        glue = [p for p in _glue_processes()]
        uids = {Path(f"/proc/{p}/status").read_text().split("Uid:")[1].split()[0] for p in glue}
    assert uids == {str(J.JAIL_UID_BASE + os.getpid())}


def test_a_fork_bomb_does_not_starve_a_neighbour() -> None:
    """Processes are counted in each jail's own user namespace: a jail that holds all of its
    processes leaves another jail of the same judge free to start and fork."""
    bomb = Jail(budget=Budget(seconds=30))
    held = threading.Event()

    def run_bomb() -> None:
        try:
            bomb.load("import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
                      "            time.sleep(60)\n            os._exit(0)\n        n += 1\n"
                      "except OSError:\n    pass\n", ["n"])
        finally:
            held.set()
    th = threading.Thread(target=run_bomb)
    th.start()
    held.wait(30)
    try:
        got = _load("import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\n"
                    "os.waitpid(pid, 0)\nx = 'forked'\n", ["x"])
        assert got == {"x": "forked"}
    finally:
        bomb.close()
        th.join()


# --- the protocol takes nothing on trust ------------------------------------------------------

def _proto_fd_writer(payload: str) -> str:
    """A cell that writes ``payload`` on the glue's own answer descriptor and then waits."""
    return ("import gc, os, time\nfor o in gc.get_objects():\n"
            "    if type(o).__name__ == 'Glue':\n"
            f"        os.write(o.rout, {payload})\ntime.sleep(30)\n")


@pytest.mark.parametrize(("payload", "said"), [
    ("b'not json\\n'", "the jail sent a line that is not JSON"),
    ("b'[1, 2]\\n'", "the jail answered something that is not the protocol"),
    ("b'x' * (2 << 20)", "the jail sent a line longer than the protocol allows"),
    ("b'[' * 100000 + b'\\n'", "the jail sent a line that is not JSON"),
])
def test_a_forged_answer_is_a_failure_not_a_value(payload: str, said: str) -> None:
    assert _fails(_proto_fd_writer(payload)) == said


def test_values_are_checked_by_exact_type() -> None:
    got = _load("class Liar(int):\n    def __eq__(self, o):\n        return True\n"
                "a = Liar(1)\nb = [1, (True, None), {'k': 'v'}]\nc = 10 ** 30\n"
                "def f():\n    pass\nd = object()\n", ["a", "b", "c", "f", "d"])
    assert got["a"] == J.Opaque("Liar") and got["c"] == J.Opaque("int (too large)")
    assert got["b"] == [1, (True, None), {"k": "v"}] and got["f"] == J.FunctionRef("f")
    assert got["d"] == J.Opaque("object")
    assert J.decode({"list": [1, {"dict": [[1]]}]}) == [1, J.Opaque("unknown value")]


def test_a_call_is_a_message_per_primitive_and_too_many_cost_the_part() -> None:
    with Jail(budget=Budget(seconds=10, messages=50)) as j:
        j.load("def f(read):\n    return [read(i) for i in range(3)]\n"
               "def g(read):\n    while True:\n        read(0)\n", [])
        seen = []

        def answer(name: str, args: list) -> object:
            seen.append((name, args))
            return args[0] * 10
        assert j.call("f", [Primitive("read")], answer) == [0, 10, 20]
        assert seen == [("read", [0]), ("read", [1]), ("read", [2])]
        assert j.call("f", [Primitive("read")], lambda n, a: STOP) is STOP
        with pytest.raises(JailFailure, match="more than 50 calls"):
            j.call("g", [Primitive("read")], lambda n, a: 1)


def test_a_replay_answers_known_calls_and_checks_them() -> None:
    """Calls the judge answered before are answered in the jail from ``replay``, and the jail
    reports them: the next call is the only message; a function that makes other calls when
    given the same answers (it keeps state) is told so."""
    with Jail(budget=Budget(seconds=10)) as j:
        j.load("n = [0]\ndef f(read):\n    return [read(i) for i in range(3)]\n"
               "def g(read):\n    n[0] += 1\n    return [read(n[0]), read(9)]\n", [])
        seen = []

        def answer(name: str, args: list) -> object:
            seen.append(args)
            return STOP
        assert j.call("f", [Primitive("read")], answer,
                      replay=[("read", [0], 5), ("read", [1], 6)]) is STOP
        assert seen == [[2]]  # only the third call reached the judge
        assert j.call("f", [Primitive("read")], lambda n, a: 7,
                      replay=[("read", [0], 5), ("read", [1], 6)]) == [5, 6, 7]
        assert j.call("g", [Primitive("read")], answer, replay=[("read", [1], 1)]) is STOP
        with pytest.raises(StudentError, match="does not make the same calls"):
            j.call("g", [Primitive("read")], answer, replay=[("read", [1], 1)])


# --- where the jail cannot run, nothing is graded --------------------------------------------

def test_spfteach_grading_jail_prints_the_policy() -> None:
    r = subprocess.run([sys.executable, "-m", "spfteach.cli", "grading", "jail"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("The grading jail works here: ")
    assert "    --unshare-user \\\n" in r.stdout and "    --remount-ro / \\\n" in r.stdout


def test_no_bubblewrap_is_one_line_and_exit_2() -> None:
    r = subprocess.run([sys.executable, "-m", "spfteach.cli", "grading", "jail"],
                       env={**os.environ, "PATH": "/nonexistent"}, capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ("spfteach: error: grading needs bubblewrap to confine the student's "
                        "code: apt-get install bubblewrap (make setup installs it)\n")


_NO_USERNS = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r, w = os.pipe(); r2, w2 = os.pipe()
pid = os.fork()
if pid == 0:
    assert libc.unshare(0x10000000) == 0  # a user namespace of our own, mapped below
    os.write(w, b"x"); os.read(r2, 1)
    open("/proc/sys/user/max_user_namespaces", "w").write("0")  # and no more inside it
    os.setgroups([]); os.setgid(1000); os.setuid(1000); os.chdir("/")
    os.execv("/usr/bin/python3", ["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, "
             + repr(sys.argv[1]) + "); from spfteach.cli import main; "
             "sys.exit(main(['grading', 'jail']))"])
os.read(r, 1)
for f in ("uid_map", "gid_map"):
    open(f"/proc/{pid}/{f}", "w").write("0 0 1\\n1000 1000 1\\n")
os.write(w2, b"x")
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"),
                    reason="maps a user namespace of its own (root) and runs Debian's python3")
def test_no_user_namespaces_is_one_line_and_exit_2() -> None:
    """Inside a user namespace that allows no further one (as a machine with unprivileged
    user namespaces off), ``spfteach grading jail`` refuses, naming the capability."""
    r = subprocess.run([sys.executable, "-c", _NO_USERNS, str(ROOT)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "spfteach: error: grading needs unprivileged user namespaces, which this machine "
        "refuses"), r.stderr



class _AsTheJudge(Jail):
    """A jail with the judge's own interpreter, as a non-root judge has it (only here, as
    root, it keeps the host uid: the interpreter is under /root)."""

    def argv(self, glue_fd: int, info_fd: int) -> list[str]:
        return J.command(J.interpreter(False), self.limits, glue_fd, info_fd)

    def uid(self) -> int | None:
        return None


@pytest.mark.skipif(J.interpreter(False).executable.startswith("/usr/"),
                    reason="the judge's Python is the system's: no prefix install to bind")
def test_a_prefix_install_binds_its_lib_and_hides_its_site_packages() -> None:
    """pyenv's (or conda's) Python keeps libpython and the stdlib under its own prefix: the
    jail binds that lib/ whole and hides its site-packages under an empty tmpfs."""
    py = J.interpreter(False)
    assert any(b.endswith("/lib") for b in py.binds) and py.masks
    got = _load("import sys, os, ctypes, sqlite3, json\nv = sys.version.split()[0]\n"
                "site = [os.listdir(m) for m in " + repr(list(py.masks)) + "]\n"
                "exe = sys.executable\n", ["v", "site", "exe"], jail=_AsTheJudge)
    assert got == {"v": py.version, "site": [[] for _ in py.masks], "exe": py.executable}
