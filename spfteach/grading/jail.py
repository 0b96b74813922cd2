"""The jail: the student's code runs in a process the operating system confines.

DESIGN.  A grade is computed by the *judge* (the model, the explorer, the
scoring: :mod:`.judge`), which never executes student code.  The student's
answer cell runs here, in a process started by bubblewrap (Debian's
``bubblewrap``), and the two speak a narrow protocol of plain JSON values
(:mod:`.jailglue`).  The jail's command line is its policy, readable in one
place (:func:`command`):

* new user, PID, network, IPC, UTS and cgroup namespaces (``--unshare-all``,
  and ``--unshare-user`` so that a missing user namespace is an error, not a
  quiet fallback); no nested user namespaces (``--disable-userns``); no
  capabilities; a new session (no controlling terminal: ``/dev/tty`` and
  ``TIOCSTI`` are refused);
* a filesystem of nothing but read-only binds of the interpreter, its
  standard library (``site-packages`` masked), the system's shared libraries,
  and the glue file; a fresh ``/proc`` and minimal ``/dev``; a private empty
  ``/tmp`` of 16 MiB.  Not the grader, not spfteach, not the course, the
  gradebook, ``/home``, ``/root``, the host's ``/tmp`` or ``/etc``;
* limits (:class:`Limits`): CPU seconds, address space, processes (counted in
  the jail's own user namespace), file size, open files;
* every process of the jail dies with it: bubblewrap's init is PID 1 of the
  jail's PID namespace, and when the glue ends (or the judge kills the jail,
  or the judge dies: ``--die-with-parent``) the kernel kills the rest.

When the judge runs as root the jail must not be host root (RLIMIT_NPROC does
not apply to uid 0): it runs bubblewrap as an unused uid of its own,
``JAIL_UID_BASE + pid`` (unique among live judges, so two jails never share a
process count).  As any other user, the jail runs as that user, confined by
the namespaces.  There is no fallback: where bubblewrap or unprivileged user
namespaces are missing, :func:`probe` refuses in one line, naming what is
missing, and nothing is graded.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import jailglue

#: Host uids for jails when the judge runs as root: base + the judge's pid.
JAIL_UID_BASE = 2_000_000_000
#: The uid and gid the student's code sees inside.
INSIDE_ID = 1000
#: Where the glue is inside the jail.
GLUE = "/jail/glue.py"
#: The longest line the judge reads from the jail.
MAX_LINE = 1 << 20


class JailUnavailable(Exception):
    """This machine cannot run the jail; the message says what is missing, in one line."""


class StudentError(Exception):
    """The student's code failed, or answered something it may not: one line."""


class JailFailure(StudentError):
    """The jail misbehaved (too slow, dead, too many messages, not the protocol):
    it costs the part it was on, and the next part gets a fresh jail."""


@dataclass(frozen=True)
class Limits:
    """What one jail may use."""

    cpu_seconds: int = 60            # RLIMIT_CPU, a backstop: the judge's wall limit comes first
    memory_bytes: int = 512 << 20    # RLIMIT_AS of each process
    processes: int = 16              # RLIMIT_NPROC, in the jail's user namespace
    file_bytes: int = 8 << 20        # RLIMIT_FSIZE
    open_files: int = 64             # RLIMIT_NOFILE
    tmp_bytes: int = 16 << 20        # the size of the private /tmp
    output_bytes: int = 16 << 10     # what the judge keeps of what the code printed


@dataclass
class Budget:
    """What one graded part may spend waiting on the jail."""

    seconds: float = 20.0
    messages: int = 200_000
    spent: float = 0.0
    sent: int = 0

    def reset(self, seconds: float | None = None) -> None:
        self.seconds = self.seconds if seconds is None else seconds
        self.spent, self.sent = 0.0, 0


# --- the interpreter the jail runs ------------------------------------------------------

@dataclass(frozen=True)
class Interpreter:
    """A Python the jail can run: its executable and what it needs bound."""

    executable: str
    version: str
    binds: tuple[str, ...]          # paths bound read-only at the same place
    masks: tuple[str, ...]          # directories hidden under an empty tmpfs
    multiarch: str                  # the system's library directory name (x86_64-linux-gnu)


_DESCRIBE = r"""
import json, os, sys, sysconfig
v = sysconfig.get_config_var
print(json.dumps({"executable": os.path.realpath(sys.executable),
                  "version": sys.version.split()[0], "path": sys.path,
                  "libdir": v("LIBDIR") or "", "multiarch": v("MULTIARCH") or ""}))
"""
#: Where the system keeps its own libraries: an interpreter whose LIBDIR is elsewhere
#: (pyenv, conda, a /usr/local or /opt build) has its libraries there, bound whole.
SYSTEM_LIBS = ("/usr/lib", "/lib", "/usr/lib64", "/lib64")


def _reachable_by_others(path: str, executable: bool = False) -> bool:
    """Every directory above ``path`` is searchable by others and ``path`` readable
    (and executable, for the interpreter): a uid of its own (the root judge's
    jail) can bind and use it."""
    p = Path(path)
    for d in [*reversed(p.parents), p]:
        try:
            mode = d.stat().st_mode
        except OSError:
            return False
        if d != p or stat.S_ISDIR(mode):
            need = stat.S_IXOTH
        else:
            need = stat.S_IROTH | (stat.S_IXOTH if executable else 0)
        if mode & need != need:
            return False
    return True


def _candidates() -> list[str]:
    env = os.environ.get("SPFTEACH_JAIL_PYTHON")
    if env:
        return [env]
    base = getattr(sys, "_base_executable", "") or sys.executable
    return [c for c in (os.path.realpath(base), "/usr/bin/python3") if c]


def _layout(d: dict) -> Interpreter:
    """What an interpreter described by ``_DESCRIBE`` needs bound, and hidden."""
    stdlib = [p for p in d["path"] if os.path.exists(p)]
    libdir = d["libdir"]
    own_libs = bool(libdir) and os.path.isdir(libdir) and not libdir.startswith(
        tuple(s + "/" for s in SYSTEM_LIBS)) and libdir not in SYSTEM_LIBS
    inside = [libdir] if own_libs else []
    binds = [d["executable"], *inside]
    binds += [p for p in stdlib if not any(p.startswith(q + "/") for q in inside + stdlib)]
    masks = tuple(str(Path(p) / sub) for p in stdlib for sub in ("site-packages",
                                                                 "dist-packages")
                  if (Path(p) / sub).is_dir())
    return Interpreter(d["executable"], d["version"], tuple(binds), masks, d["multiarch"])


@lru_cache(maxsize=4)
def interpreter(drop_uid: bool) -> Interpreter:
    """The first candidate (``SPFTEACH_JAIL_PYTHON``, the judge's own base
    interpreter, Debian's ``/usr/bin/python3``) the jail's user can bind, with
    the paths it needs."""
    tried = []
    for exe in _candidates():
        if not os.path.exists(exe):
            tried.append(f"{exe} (missing)")
            continue
        r = subprocess.run([exe, "-I", "-S", "-c", _DESCRIBE], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            tried.append(f"{exe} (does not run)")
            continue
        py = _layout(json.loads(r.stdout))
        if drop_uid and not (_reachable_by_others(py.executable, executable=True) and all(
                _reachable_by_others(b) for b in py.binds[1:])):
            tried.append(f"{exe} (not readable by other users)")
            continue
        return py
    raise JailUnavailable("no Python the jail can run (tried " + ", ".join(tried) + "): set "
                          "SPFTEACH_JAIL_PYTHON to a python3 other users can read")


def _system_binds(multiarch: str) -> list[str]:
    """The dynamic loader and the system's shared libraries, and the symlinks of a
    merged /usr, as bubblewrap arguments."""
    args: list[str] = []
    links = [top for top in ("/lib", "/lib64", "/lib32", "/libx32", "/bin")
             if os.path.islink(top)]
    for top in links:
        args += ["--symlink", os.readlink(top), top]
    dirs = ["/usr/lib64", "/lib64"] + ([f"/usr/lib/{multiarch}", f"/lib/{multiarch}"]
                                       if multiarch else [])
    for d in dirs:
        if os.path.isdir(d) and not os.path.islink(d) and not any(
                d == top or d.startswith(top + "/") for top in links):
            args += ["--ro-bind", d, d]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def bwrap() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise JailUnavailable("grading needs bubblewrap to confine the student's code: "
                              "apt-get install bubblewrap (make setup installs it)")
    return path


def command(py: Interpreter, limits: Limits, glue_fd: int, info_fd: int) -> list[str]:
    """The jail's policy: the bubblewrap command line (see the module docstring)."""
    args = [bwrap(),
            "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
            "--die-with-parent", "--new-session", "--hostname", "jail",
            "--uid", str(INSIDE_ID), "--gid", str(INSIDE_ID),
            "--clearenv", "--setenv", "PATH", "/usr/bin", "--setenv", "HOME", "/tmp",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONHASHSEED", "0",
            "--setenv", "SPFTEACH_JAIL_NPROC", str(limits.processes),
            *_system_binds(py.multiarch)]
    for b in py.binds:
        args += ["--ro-bind", b, b]
    for m in py.masks:
        args += ["--tmpfs", m, "--remount-ro", m]
    args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev",
             "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
             "--ro-bind-data", str(glue_fd), GLUE,
             "--remount-ro", "/",  # the root bubblewrap built the view in: no writes there
             "--chdir", "/tmp", "--info-fd", str(info_fd),
             py.executable, "-S", "-s", "-B", GLUE]
    return args


def _preexec(limits: Limits, uid: int | None) -> Callable[[], None]:
    import resource

    def pre() -> None:
        for what, n in ((resource.RLIMIT_CPU, limits.cpu_seconds),
                        (resource.RLIMIT_AS, limits.memory_bytes),
                        (resource.RLIMIT_FSIZE, limits.file_bytes),
                        (resource.RLIMIT_NOFILE, limits.open_files),
                        (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(what, (n, n))
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
    return pre


def _glue_source() -> bytes:
    return Path(jailglue.__file__).read_bytes()


# --- one jail, and the conversation with it ------------------------------------------------

Prim = Callable[[str, list], "object | Stop"]


class Stop:
    """What a primitive's handler returns to end this run of the student's function."""


STOP = Stop()


@dataclass
class Jail:
    """One jail process running the glue; requests go one at a time.

    Every wait on the jail is charged to :attr:`budget`; any misbehaviour raises
    :class:`JailFailure` and kills the jail (the next request starts a new one,
    loading the same answer cell again)."""

    limits: Limits = field(default_factory=Limits)
    budget: Budget = field(default_factory=Budget)
    proc: subprocess.Popen | None = None
    output: bytearray = field(default_factory=bytearray)
    _buf: bytes = b""
    _loaded: dict | None = None
    _sel: selectors.BaseSelector | None = None
    child_pid: int = 0

    # -- life ---------------------------------------------------------------------------

    def argv(self, glue_fd: int, info_fd: int) -> list[str]:
        """The jail's command line, the glue on ``glue_fd`` (:func:`command`)."""
        return command(interpreter(os.geteuid() == 0), self.limits, glue_fd, info_fd)

    def uid(self) -> int | None:
        """The host uid the jail runs as: an unused one when the judge is root."""
        return JAIL_UID_BASE + os.getpid() if os.geteuid() == 0 else None

    def start(self) -> None:
        glue_r, glue_w = os.pipe()
        info_r, info_w = os.pipe()
        src = _glue_source()
        if len(src) >= 65536:  # pragma: no cover - the glue is a few KiB
            raise RuntimeError("the glue no longer fits a pipe buffer")
        os.write(glue_w, src)
        os.close(glue_w)
        uid = self.uid()
        argv = self.argv(glue_r, info_w)
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(glue_r, info_w) if str(info_w) in argv else (glue_r,),
                cwd="/", env={"PATH": "/usr/bin:/bin"}, preexec_fn=_preexec(self.limits, uid))
        except subprocess.SubprocessError:
            os.close(info_r)
            raise JailUnavailable(f"the judge runs as root but cannot switch to an unused uid "
                                  f"({uid}) for the jail (a user namespace that maps only "
                                  "root?): run the grader as an ordinary user") from None
        finally:
            os.close(glue_r)
            os.close(info_w)
        with os.fdopen(info_r, "rb") as info:  # bubblewrap's {"child-pid": N}, then EOF
            try:
                self.child_pid = int(json.loads(info.read() or b"{}").get("child-pid", 0))
            except ValueError:
                self.child_pid = 0
        self._buf = b""
        for f in (self.proc.stdout, self.proc.stderr):
            assert f is not None
            os.set_blocking(f.fileno(), False)
        hello = self._read_message(startup=True)
        if "ready" not in hello:
            raise self._fail("the jail did not start")

    def close(self) -> None:
        """Kill the jail (all of it: its PID namespace ends with bubblewrap)."""
        p, self.proc = self.proc, None
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        if p is None:
            return
        self._keep_output(p)
        # Kill the jail's PID 1 (bubblewrap's init inside): the kernel kills every
        # other process of the namespace, and the outer bubblewrap, seeing its child
        # gone, exits and is reaped here (killing it first would leave the inner
        # one a zombie of the host's init).
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if self.child_pid:
                    os.kill(self.child_pid, signal.SIGKILL)
                else:
                    p.kill()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        for f in (p.stdin, p.stdout, p.stderr):
            if f is not None:
                f.close()

    def _keep_output(self, p: subprocess.Popen) -> None:
        """What the code printed and the judge has not read yet (the pipe is
        non-blocking: this takes what is there and does not wait)."""
        assert p.stderr is not None
        with contextlib.suppress(OSError):
            while len(self.output) < self.limits.output_bytes:
                chunk = os.read(p.stderr.fileno(), 65536)
                if not chunk:
                    break
                self.output += chunk[:self.limits.output_bytes - len(self.output)]

    def __enter__(self) -> Jail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------

    def load(self, source: str, names: list[str], given: dict | None = None) -> dict:
        """Run the answer cell; the values of ``names`` it set (plain, decoded)."""
        self._loaded = {"load": source, "given": {k: encode(v) for k, v in (given or {}).items()},
                        "names": names}
        reply = self._request(self._loaded)
        return self._values(reply)

    def call(self, name: str, args: list, prim: Prim | None = None,
             replay: Sequence[tuple[str, list, object]] = ()) -> object:
        """Call the cell's function ``name``.  An argument ``Primitive(P)`` is a
        callable: its first calls are answered from ``replay`` ((P, args, value)
        triples the judge answered before; the jail reports the calls it made and
        they must be these), every later one ``prim(P, args)`` answers (or
        :data:`STOP`s), one message each.  Returns the decoded value, or
        :data:`STOP` when the run was stopped."""
        if self._loaded is None:
            raise RuntimeError("load the answer cell first")
        if self.proc is None:
            self._values(self._request(self._loaded))  # a fresh jail: the cell again
        self._send({"call": name, "args": [{"prim": a.name} if isinstance(a, Primitive)
                                           else encode(a) for a in args],
                    "replay": [encode(v) for _, _, v in replay]})
        wrong: StudentError | None = None  # raised once the call is over
        while True:
            msg = self._read_message()
            if "made" in msg and wrong is None:
                made = msg["made"]
                want = [[p_, a_] for p_, a_, _ in replay]
                if not isinstance(made, list) or [[m[0], [decode(x) for x in m[1]]]
                                                  for m in made if isinstance(m, list)
                                                  and len(m) == 2
                                                  and isinstance(m[1], list)] != want:
                    wrong = StudentError(f"{name}() does not make the same calls when they "
                                         "return the same values: it must not keep state "
                                         "between calls")
            if "prim" in msg:
                if prim is None or not isinstance(msg["prim"], str) or not isinstance(
                        msg.get("args"), list):
                    raise self._fail("the jail sent a message the judge did not expect")
                got: object = STOP
                if wrong is None:
                    try:
                        got = prim(msg["prim"], [decode(a) for a in msg["args"]])
                    except StudentError as e:
                        wrong = e
                self._send({"stop": True} if got is STOP else {"value": encode(got)})
                continue
            if wrong is not None and any(k in msg for k in ("return", "stopped", "caught_stop",
                                                             "error")):
                raise wrong
            if "return" in msg:
                return decode(msg["return"])
            if msg.get("stopped") is True:
                return STOP
            if msg.get("caught_stop") is True:
                raise StudentError(f"{name}() caught the grader's stop: do not catch every "
                                   "exception (a bare except, or BaseException)")
            if isinstance(msg.get("error"), str):
                raise StudentError(msg["error"][:400])
            raise self._fail("the jail answered something that is not the protocol")

    def printed(self) -> str:
        """What the student's code printed (at most ``limits.output_bytes``), as text."""
        return self.output.decode(errors="replace")

    # -- the wire -----------------------------------------------------------------------

    def _values(self, reply: dict) -> dict:
        if isinstance(reply.get("error"), str):
            raise StudentError(reply["error"][:400])
        vals = reply.get("values")
        if not isinstance(vals, dict):
            raise self._fail("the jail answered something that is not the protocol")
        return {str(k): decode(v) for k, v in vals.items()}

    def _request(self, req: dict) -> dict:
        if self.proc is None:
            self.start()
        self._send(req)
        return self._read_message()

    def _send(self, msg: dict) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.budget.sent += 1
        if self.budget.sent > self.budget.messages:
            raise self._fail(f"your code made more than {self.budget.messages:,} calls")
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fail(self._death()) from None

    def _read_message(self, startup: bool = False) -> dict:
        """The next protocol line, waiting at most what the budget has left (plus
        the interpreter's start-up, for the first)."""
        assert self.proc is not None and self.proc.stdout is not None
        assert self.proc.stderr is not None
        out, err = self.proc.stdout, self.proc.stderr
        start = time.monotonic()
        grace = 30.0 if startup else 0.0
        if self._sel is None:
            self._sel = selectors.DefaultSelector()
            self._sel.register(out, selectors.EVENT_READ)
            self._sel.register(err, selectors.EVENT_READ)
        sel = self._sel
        try:
            while b"\n" not in self._buf:
                left = self.budget.seconds + grace - self.budget.spent - (
                    time.monotonic() - start)
                if left <= 0:
                    raise self._fail(f"timed out after {self.budget.seconds:g} s")
                for key, _ in sel.select(left):
                    chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                    if key.fileobj is err:
                        room = self.limits.output_bytes - len(self.output)
                        self.output += chunk[:max(room, 0)]
                        if not chunk:
                            sel.unregister(err)
                        continue
                    if not chunk:
                        raise self._fail(self._death())
                    self._buf += chunk
                    if len(self._buf) > MAX_LINE and b"\n" not in self._buf:
                        raise self._fail("the jail sent a line longer than the protocol "
                                         "allows")
        finally:
            if not startup:
                self.budget.spent += time.monotonic() - start
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            msg = json.loads(line)
        except (ValueError, RecursionError):
            raise self._fail("the jail sent a line that is not JSON") from None
        if not isinstance(msg, dict):
            raise self._fail("the jail answered something that is not the protocol")
        return msg

    def _death(self) -> str:
        assert self.proc is not None
        self._keep_output(self.proc)
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the jail stopped answering"
        if code < 0 or code > 128:
            sig = -code if code < 0 else code - 128
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
            return f"your code's process was killed ({name})"
        err = self.printed().strip().splitlines()
        if code == 1 and err and err[-1].startswith("bwrap:"):
            return f"the jail could not start: {err[-1]}"
        return f"your code ended the grader's process (exit status {code})"

    def _fail(self, why: str) -> JailFailure:
        self.close()
        return JailFailure(why)


@dataclass(frozen=True)
class Primitive:
    """An argument of :meth:`Jail.call` that is a primitive of the model."""

    name: str


# --- plain values: the only thing that crosses --------------------------------------------

def encode(v: object) -> object:
    """A judge's value (trusted) for the wire."""
    if isinstance(v, list):
        return {"list": [encode(x) for x in v]}
    if isinstance(v, tuple):
        return {"tuple": [encode(x) for x in v]}
    if isinstance(v, dict):
        return {"dict": [[encode(k), encode(x)] for k, x in v.items()]}
    if v is None or type(v) in (bool, int, str):
        return v
    raise TypeError(f"not a plain value: {type(v).__name__}")


@dataclass(frozen=True)
class Opaque:
    """A value of the student's that is not plain data: its type name only."""

    type_name: str

    def __repr__(self) -> str:
        return f"<a {self.type_name}>"


@dataclass(frozen=True)
class FunctionRef:
    """A function the answer cell defined (it stays in the jail)."""

    name: str


def decode(v: object, depth: int = 0) -> object:
    """An untrusted wire value as Python data, checked by type at every level."""
    if depth > jailglue.MAX_DEPTH + 1:
        return Opaque("too deep")
    if v is None or type(v) in (bool, int, str):
        return v
    if isinstance(v, dict) and len(v) == 1:
        (tag, body), = v.items()
        if tag in ("list", "tuple") and isinstance(body, list):
            items = [decode(x, depth + 1) for x in body]
            return items if tag == "list" else tuple(items)
        if tag == "dict" and isinstance(body, list) and all(
                isinstance(kv, list) and len(kv) == 2 for kv in body):
            pairs = [(decode(k, depth + 1), decode(x, depth + 1)) for k, x in body]
            try:
                return dict(pairs)
            except TypeError:
                return Opaque("dict")
        if tag == "function" and isinstance(body, str):
            return FunctionRef(body)
        if tag == "other" and isinstance(body, str):
            return Opaque(body[:60])
    return Opaque("unknown value")


# --- is the jail available here? -----------------------------------------------------------

@lru_cache(maxsize=1)
def probe() -> str:
    """Start a jail once and run a cell in it; the interpreter's version, or
    :class:`JailUnavailable` saying in one line what this machine lacks."""
    if not sys.platform.startswith("linux"):
        raise JailUnavailable("grading needs Linux: the jail is built from Linux namespaces "
                              "(bubblewrap)")
    bwrap()
    jail = Jail(budget=Budget(seconds=30))
    try:
        got = jail.load("x = 6 * 7\n", ["x"])
    except JailFailure as e:
        why = str(e)
        if "namespace" in why or "Operation not permitted" in why or "No permissions" in why:
            raise JailUnavailable(
                "grading needs unprivileged user namespaces, which this machine refuses "
                "(sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces>0; "
                f"in a container, allow unshare): {why}") from None
        raise JailUnavailable(f"the grading jail does not start here: {why}") from None
    finally:
        jail.close()
    if got.get("x") != 42:
        raise JailUnavailable("the grading jail started but did not run a cell")
    return interpreter(os.geteuid() == 0).version


def policy_text(limits: Limits | None = None) -> str:
    """What the jail allows and refuses, and its command line, for a person
    (``spfteach grading jail``)."""
    lim = limits or Limits()
    drop = os.geteuid() == 0
    py = interpreter(drop)
    who = (f"as uid {JAIL_UID_BASE}+the judge's pid (the judge runs as root; the jail never "
           "does)" if drop else f"as uid {os.geteuid()} (the judge's), confined by namespaces")
    groups: list[list[str]] = []
    for a in command(py, lim, 3, 4):  # one line per option and its operands
        if a.startswith("--") or not groups or groups[-1][0].startswith("/"):
            groups.append([a])
        else:
            groups[-1].append(a)
    shown = " \\\n    ".join(" ".join(g) for g in groups)
    mib = 1 << 20
    return "\n".join([
        f"The grading jail works here: {bwrap()}, Python {py.version} ({py.executable}), {who}.",
        "It allows: the standard library, computing, printing (kept as text, "
        f"{lim.output_bytes // 1024} KiB), a private /tmp of {lim.tmp_bytes // mib} MiB.",
        "It refuses: the network (no interface but a down loopback), every file but the "
        "interpreter, its standard library and the system's shared libraries (not spfteach, "
        "site-packages, the course, the gradebook, /home, /root, the host's /tmp or /etc), "
        "other processes (its own PID namespace), a terminal, new namespaces, capabilities.",
        f"Limits per process: {lim.cpu_seconds} s of CPU, {lim.memory_bytes // mib} MiB of "
        f"address space, files of {lim.file_bytes // mib} MiB, {lim.open_files} open files; "
        f"{lim.processes} processes in the jail; every process dies with the jail.",
        "Its command line (the policy):",
        "  " + shown,
    ])
