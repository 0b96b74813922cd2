"""The student's side of the jail: the one file of spfteach the jail can see.

It runs as ``python -S -s -B /jail/glue.py`` inside bubblewrap (:mod:`.jail`), and
imports nothing but the standard library: the package, the course and the
gradebook are not in the jail's view.  It executes the student's answer cell and
answers the judge's questions about it, one JSON object per line (requests on
fd 0, answers on fd 1; what the student's code prints goes to fd 2, which the
judge keeps only as text):

* ``{"load": SOURCE, "given": {NAME: VALUE}, "names": [NAME, ...]}`` runs the
  answer cell with ``given`` bound, and answers ``{"values": {NAME: VALUE}}``
  (the names it asked for that the cell set) or ``{"error": ONE_LINE}``;
* ``{"call": NAME, "args": [VALUE, ...], "replay": [VALUE, ...]}`` calls the
  cell's function ``NAME``; an argument ``{"prim": P}`` is a primitive of the
  model (``read_seq()``).  Its first calls get the ``replay`` values, answers
  the judge gave before at these points; every later call is a message
  ``{"prim": P, "args": [...]}`` the judge answers with ``{"value": VALUE}`` or
  ``{"stop": true}`` (this run of the function is over: it is raised as
  :class:`Stop`).  The call ends with ``{"return": VALUE}``, ``{"error":
  ONE_LINE}``, ``{"stopped": true}``, or ``{"caught_stop": true}`` when the
  student's code swallowed the stop.  The first message after the replay
  carries ``"made"``: the calls the replay answered, which the judge checks.

Values are plain: ints, bools, None, strings, and tagged containers
(``{"list": [...]}``, ``{"tuple": [...]}``, ``{"dict": [[k, v], ...]}``); a
function is ``{"function": NAME}``, anything else ``{"other": TYPE}``.  Types are
exact (``type(v) is int``): an int subclass whose ``__eq__`` always says yes is
an ``other``, not an int.

Nothing here is a security boundary.  The student's code can write to the
protocol's descriptors, kill this process, or never answer; the judge treats
every answer as untrusted data, and the jail (the operating system) is what
keeps the code away from everything else.
"""

from __future__ import annotations

import builtins
import json
import os
import resource
import signal
import sys
import traceback

#: The file name the student's code is compiled under: a traceback is cut down to it.
FILENAME = "<your answer>"
#: Bounds on what one answer may carry (a value, a container, a nesting).
MAX_ITEMS, MAX_DEPTH, MAX_STR = 10_000, 8, 10_000


class Stop(BaseException):  # noqa: N818 - not an error: the judge ends this run here
    """The judge has what it needed from this run of the function.  A
    BaseException, so that a student's ``except Exception`` lets it through."""


class _Unplain(Exception):
    pass


def plain(v: object, depth: int = 0, count: list[int] | None = None) -> object:
    """``v`` as a JSON value the judge can check by type (see the module docstring)."""
    count = count if count is not None else [0]
    count[0] += 1
    if count[0] > MAX_ITEMS or depth > MAX_DEPTH:
        raise _Unplain("too large")
    t = type(v)
    if v is None or t is bool:
        return v
    if t is int:
        if abs(v) >= 1 << 64:  # type: ignore[arg-type]
            return {"other": "int (too large)"}
        return v
    if t is str:
        return v if len(v) <= MAX_STR else {"other": "str (too long)"}  # type: ignore[arg-type]
    if t in (list, tuple):
        return {t.__name__: [plain(x, depth + 1, count) for x in v]}  # type: ignore[attr-defined]
    if t is dict:
        return {"dict": [[plain(k, depth + 1, count), plain(x, depth + 1, count)]
                         for k, x in v.items()]}  # type: ignore[attr-defined]
    if t.__name__ == "function":
        return {"function": str(getattr(v, "__name__", "?"))}
    return {"other": t.__name__}


def unplain(v: object) -> object:
    """A value from the judge (trusted) as a Python value."""
    if isinstance(v, dict):
        if "list" in v:
            return [unplain(x) for x in v["list"]]
        if "tuple" in v:
            return tuple(unplain(x) for x in v["tuple"])
        if "dict" in v:
            return {unplain(k): unplain(x) for k, x in v["dict"]}
    return v


def describe(e: BaseException, source: str) -> str:
    """``ZeroDivisionError: division by zero at line 3 of your code: return 1 / 0``:
    the innermost frame of the student's code in ``e``'s traceback."""
    err: BaseException | None = e
    while err is not None:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == FILENAME]
        if frames:
            line = frames[-1].lineno or 0
            lines = source.splitlines()
            text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            if isinstance(err, NotImplementedError):
                return f"no answer yet: line {line} of your cell still raises NotImplementedError"
            what = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            return f"{what} at line {line} of your code" + (f": {text[:200]}" if text else "")
        err = err.__cause__ or err.__context__
    what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    return what[:300]


class Glue:
    """The conversation: one request at a time, answers as JSON lines."""

    def __init__(self, rin: int, rout: int) -> None:
        self.rin = os.fdopen(rin, "rb")
        self.rout = rout
        self.ns: dict[str, object] = {}
        self.source = ""
        self.stopped = False
        self.replay: list[object] = []
        self.made: list[list[object]] | None = None

    def send(self, msg: dict) -> None:
        for f in (sys.stdout, sys.stderr):  # what the code printed, before the answer
            try:
                f.flush()
            except Exception:  # noqa: BLE001,S110 - the student's stream, maybe replaced
                pass
        data = (json.dumps(msg) + "\n").encode()
        while data:
            data = data[os.write(self.rout, data):]

    def recv(self) -> dict:
        line = self.rin.readline()
        if not line:
            os._exit(0)  # the judge hung up: nothing left to answer
        return json.loads(line)

    def prim(self, name: str):  # noqa: ANN201 - a callable handed to the student's code
        def primitive(*args: object) -> object:
            if self.stopped:
                raise Stop()
            try:
                sent = [plain(a) for a in args]
            except _Unplain:
                sent = [{"other": "too large"}]
            if self.made is not None and len(self.made) < len(self.replay):  # answered before
                self.made.append([name, sent])
                return self.replay[len(self.made) - 1]
            self.send(self._made({"prim": name, "args": sent}))
            reply = self.recv()
            if reply.get("stop"):
                self.stopped = True
                raise Stop()
            return unplain(reply.get("value"))
        primitive.__name__ = primitive.__qualname__ = name
        return primitive

    def _made(self, msg: dict) -> dict:
        """``msg`` with the calls answered from the replay, once (the judge checks them)."""
        if self.made is not None:
            msg["made"], self.made = self.made, None  # type: ignore[assignment]
            self.replay = []
        return msg

    def load(self, req: dict) -> dict:
        self.source = str(req["load"])
        self.ns = {"__name__": "__main__", "__builtins__": builtins}
        self.ns.update({k: unplain(v) for k, v in req.get("given", {}).items()})
        try:
            exec(compile(self.source, FILENAME, "exec"), self.ns)  # noqa: S102 - in the jail
        except SyntaxError as e:
            return {"error": f"SyntaxError: {e.msg} (line {e.lineno} of your code)"}
        except Stop:
            return {"error": "your cell stopped itself"}
        except BaseException as e:  # noqa: BLE001 - SystemExit too: it is the cell's error
            return {"error": describe(e, self.source)}
        out = {}
        for name in req.get("names", []):
            if name in self.ns:
                try:
                    out[name] = plain(self.ns[name])
                except _Unplain:
                    out[name] = {"other": "too large"}
        return {"values": out}

    def call(self, req: dict) -> dict:
        fn = self.ns.get(str(req["call"]))
        if not callable(fn):
            return {"error": f"your code does not define a function {req['call']}()"}
        args = [self.prim(a["prim"]) if isinstance(a, dict) and "prim" in a else unplain(a)
                for a in req.get("args", [])]
        self.stopped = False
        self.replay = [unplain(v) for v in req.get("replay", [])]
        self.made = []
        try:
            result = fn(*args)
        except Stop:
            return self._made({"stopped": True})
        except BaseException as e:  # noqa: BLE001 - the student's error, said in one line
            if self.stopped:
                return self._made({"caught_stop": True})
            return self._made({"error": describe(e, self.source)})
        if self.stopped:
            return self._made({"caught_stop": True})
        try:
            return self._made({"return": plain(result)})
        except _Unplain:
            return self._made({"return": {"other": "too large"}})

    def serve(self) -> None:
        self.send({"ready": sys.version.split()[0]})
        while True:
            req = self.recv()
            self.send(self.load(req) if "load" in req else self.call(req))


def main() -> None:
    # The script's own directory is not a place to import from.
    if sys.path and sys.path[0] in ("/jail", ""):
        del sys.path[0]
    # Processes: counted in this jail's own user namespace, so the limit is the
    # jail's alone (the launcher sets the others before bubblewrap starts).
    nproc = int(os.environ.pop("SPFTEACH_JAIL_NPROC", "16"))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    # A write past RLIMIT_FSIZE fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # The protocol keeps its own copies of fds 0 and 1; the student's code gets
    # /dev/null for input and fd 2 (text the judge shows, never parses) for output.
    rin, rout = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)  # noqa: SIM115
    Glue(rin, rout).serve()


if __name__ == "__main__":
    main()
