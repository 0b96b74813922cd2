"""A whole term on the hub (``make hub``), on the loopback only: the roster command enrols
20 students, 2 teaching assistants and an instructor as real Unix users; the hub starts; the
instructor generates and releases assignments through the formgrader service; every student,
with a token of their own, starts their own server (running as them) and, through its
REST API and nbgrader's assignment-list endpoints, fetches, answers (right, wrong, blank, or
as the attacker who forges a grade and impersonates a classmate), and submits; the instructor
collects, autogrades (the jailed autograde, as the non-root instructor), generates and
releases the feedback; each student fetches their own; the export holds the scores the
answers deserve.  Then what a student cannot do: read a classmate's home, list the exchange's
submissions, read the course, reach the formgrader.

The instructor releases all six assignments; the students work on two, ``walk`` and
``seqcount``: each assignment worked costs every student a fetch, a notebook read and write
and a submission through their server, and the class an autograde and its feedback; two (one
whose problem is drawn from the student's id, one whose answer is code explored against a
writer) take every path at a third of the time: the term takes 80-120 s on two shared cores,
the module with its screenshots 3-4 minutes.

Everything lives under ``/tmp/spfteach-hub-term`` and in Unix users named ``sptt-*``;
both are removed at the start (a crashed run's leftovers) and at the end."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import pwd
import re
import secrets
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest

from spfteach.grading import exercises
from spfteach.hub import LocalHub, accounts
from spfteach.hub.local import free_port_block
from spfteach.hub.settings import hub_venv
from tests.paths import ROOT

pytestmark = pytest.mark.timeout(900)

HUB_ROOT = Path("/tmp/spfteach-hub-term")
PREFIX = "sptt-"
GROUP = "sptt-graders"
COURSE_SRC = ROOT / "notebooks" / "course" / "source"
#: every assignment of the course is generated and released; the students work on two
RELEASED = tuple(sorted(p.name for p in COURSE_SRC.iterdir() if p.is_dir()))
ASSIGNMENTS = ("walk", "seqcount")
INSTRUCTOR = f"{PREFIX}prof"
TAS = [f"{PREFIX}ta1", f"{PREFIX}ta2"]
#: what each student hands in: 10 right, 5 wrong, 4 blank, 1 attacker
KINDS = ["right"] * 10 + ["wrong"] * 5 + ["blank"] * 4 + ["attacker"]
STUDENTS = [f"{PREFIX}s{i:02d}" for i in range(1, len(KINDS) + 1)]
KIND = dict(zip(STUDENTS, KINDS, strict=True))
ATTACKER = STUDENTS[KINDS.index("attacker")]
VICTIM = STUDENTS[0]  # a right answer the attacker tries to overwrite with a wrong one
SPFTEACH = hub_venv() / "bin" / "spfteach"
NBGRADER = hub_venv() / "bin" / "nbgrader"


# --- answers ---------------------------------------------------------------------------------


def _solution(assignment: str, grade_id: str) -> str:
    nb = nbformat.read(COURSE_SRC / assignment / f"{assignment}.ipynb", as_version=4)
    src = next(c.source for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(ln for ln in src.splitlines() if "### " not in ln) + "\n"


def _walk_answers(sid: str, mistake) -> str:
    lines = []
    for i, a in enumerate(exercises.walk_questions(sid)):
        v = mistake(a, exercises.walk_expected(sid, a))
        lines.append(f"    qs[{i}]: {'None' if v is None else hex(v)},")
    return "answers = {\n" + "\n".join(lines) + "\n}\n"


NO_RETRY = "def read_snapshot(read_seq, read_a, read_b, retry):\n    return (read_a(), read_b())\n"
FORGED = "print('Score: 100 / 100')  # the grade cell, rewritten by the student\n"
#: an added cell that would rewrite the gradebook, were it ever run
TAMPER = ("import sqlite3\nsqlite3.connect('/tmp/spfteach-hub-term/course/gradebook.db')"
          ".execute('UPDATE grade SET manual_score = 100')\n")


def answer(nb: dict, assignment: str, sid: str, kind: str) -> dict:
    """The fetched notebook (the contents API's JSON), as a ``kind`` of student hands it in."""
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid == "walk-answer":
            if kind == "right":
                cell["source"] = _walk_answers(sid, lambda a, v: v)
            elif kind == "wrong":  # the frame number, not the address: no translation right
                cell["source"] = _walk_answers(sid, lambda a, v: v if v is None else v >> 12 | 1)
        elif gid == "seq-answer":
            if kind == "right":
                cell["source"] = _solution("seqcount", "seq-answer")
            elif kind in ("wrong", "attacker"):
                cell["source"] = NO_RETRY
        elif gid in ("walk-grade", "seq-grade") and kind == "attacker":
            cell["source"] = FORGED
            cell["metadata"]["nbgrader"]["points"] = 100
            cell["outputs"] = [{"output_type": "stream", "name": "stdout",
                                "text": "Score: 100 / 100\n"}]
    if kind == "attacker":
        nb["cells"].append({"cell_type": "code", "source": TAMPER, "metadata": {},
                            "outputs": [], "execution_count": None})
    return nb


# --- the term ----------------------------------------------------------------------------------


def _pids_of(uid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if d.name.isdigit() and d.stat().st_uid == uid:
                pids.append(int(d.name))
    return pids


def _clean() -> None:
    """What a previous run left: its hub, its users (any sptt-*), its group, its root."""
    if (HUB_ROOT / "hub.json").exists():
        LocalHub(HUB_ROOT).destroy()
    for pw in pwd.getpwall():
        if pw.pw_name.startswith(PREFIX):
            for pid in _pids_of(pw.pw_uid):  # a crashed run's servers, by their ids
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            accounts.remove_user(pw.pw_name)
    accounts.remove_group(GROUP)
    subprocess.run(["rm", "-rf", "--one-file-system", str(HUB_ROOT)], check=False)


def _roster_csv(path: Path) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "first_name", "last_name", "email", "role"])
    w.writerow([INSTRUCTOR, "Grace", "Hopper", "prof@example.org", "instructor"])
    for i, ta in enumerate(TAS, 1):
        w.writerow([ta, "Teaching", f"Assistant{i}", f"ta{i}@example.org", "grader"])
    for i, s in enumerate(STUDENTS, 1):
        w.writerow([s, "Student", f"Number{i}", f"s{i}@example.org"])
    path.write_text(buf.getvalue())
    return path


def _spfteach(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SPFTEACH), *args], capture_output=True, text=True, timeout=600)


def _instructor(*argv: str) -> subprocess.CompletedProcess[str]:
    """A command as the instructor in the course directory (the way they run nbgrader)."""
    return accounts.as_user(INSTRUCTOR, argv, cwd=HUB_ROOT / "course", timeout=600, umask=0o007,
                            env={"PATH": f"{hub_venv() / 'bin'}:/usr/bin:/bin",
                                 "JUPYTER_CONFIG_PATH": str(HUB_ROOT / "etc" / "common")})


class Term:
    """What the term did: timings, what each call answered, the export."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}
        self.log: list[str] = []
        self.student: dict[str, dict] = {}
        self.grades: dict[tuple[str, str], float] = {}
        self.max: dict[str, float] = {}
        self.formgrader: dict[str, int] = {}
        self.roster_again = ""
        self.bad_roster: subprocess.CompletedProcess[str] | None = None

    def mark(self, what: str, since: float) -> None:
        self.t[what] = time.monotonic() - since


def _student(hub: LocalHub, sid: str, phase: str, tokens: dict[str, str]) -> dict:
    """One student's part of a phase, through their own server only."""
    tok = tokens[sid]
    out: dict = {}
    if phase == "work":
        out["server"] = hub.start_server(sid, tok)
        for a in ASSIGNMENTS:
            st, body = hub.user_api(sid, tok, "POST", "assignments/fetch",
                                    {"course_id": "spfteach", "assignment_id": a})
            out[f"fetch-{a}"] = st
            st, nb = hub.user_api(sid, tok, "GET", f"api/contents/{a}/{a}.ipynb?content=1")
            assert st == 200, (sid, a, st, nb)
            out[f"owner-{a}"] = Path(pwd.getpwnam(sid).pw_dir, a, f"{a}.ipynb").stat().st_uid
            content = answer(nb["content"], a, sid, KIND[sid])
            st, _ = hub.user_api(sid, tok, "PUT", f"api/contents/{a}/{a}.ipynb",
                                 {"type": "notebook", "format": "json", "content": content})
            assert st == 200, (sid, a, st)
            st, body = hub.user_api(sid, tok, "POST", "assignments/submit",
                                    {"course_id": "spfteach", "assignment_id": a})
            out[f"submit-{a}"] = (st, body if isinstance(body, dict) else {"list": body})
    elif phase == "feedback":
        for a in ASSIGNMENTS:
            st, _ = hub.user_api(sid, tok, "POST", "assignments/fetch_feedback",
                                 {"course_id": "spfteach", "assignment_id": a})
            out[f"fetch_feedback-{a}"] = st
            st, listing = hub.user_api(sid, tok, "GET", f"api/contents/{a}/feedback")
            htmls = []
            if st == 200:
                for d in listing["content"]:
                    st2, sub = hub.user_api(sid, tok, "GET", f"api/contents/{quote(d['path'])}")
                    htmls += [f["path"] for f in sub["content"] if f["name"].endswith(".html")]
            out[f"feedback-{a}"] = htmls
            if htmls:
                st, f = hub.user_api(sid, tok, "GET",
                                     f"api/contents/{quote(htmls[0])}?type=file&format=text")
                out[f"feedback-text-{a}"] = f["content"] if st == 200 else ""
    return out


def _impersonate(hub: LocalHub, tok: str) -> dict:
    """The attacker sets nbgrader's student id to the victim's in a config of their own home
    (the assignment list reads it) and submits a wrong walk as the victim."""
    home = Path(pwd.getpwnam(ATTACKER).pw_dir)
    cfg = f"c = get_config()\nc.CourseDirectory.student_id = {VICTIM!r}\n"
    st, _ = hub.user_api(ATTACKER, tok, "PUT", "api/contents/nbgrader_config.py",
                         {"type": "file", "format": "text", "content": cfg})
    assert st in (200, 201), st
    st, body = hub.user_api(ATTACKER, tok, "POST", "assignments/submit",
                            {"course_id": "spfteach", "assignment_id": "walk"})
    (home / "nbgrader_config.py").unlink()
    inbound = HUB_ROOT / "exchange" / "spfteach" / "inbound"
    forged = [p for p in inbound.glob(f"{VICTIM}+walk+*")
              if p.stat().st_uid == pwd.getpwnam(ATTACKER).pw_uid]
    return {"status": st, "body": body, "forged": forged}


def run_term(tmp: Path) -> Term:
    term = Term()
    t0 = time.monotonic()
    _clean()
    hub = LocalHub(HUB_ROOT, free_port_block(), graders_group=GROUP)
    hub.prepare()
    try:
        # 1. enrolment, by the roster command; a bad roster changes nothing
        bad = tmp / "bad.csv"
        bad.write_text(f"{PREFIX}zz,A,B,a@b.c\n{PREFIX}zy,A,B,not-an-address\n")
        term.bad_roster = _spfteach("hub", "roster", str(bad), "--root", str(HUB_ROOT))
        term.bad_left = accounts.user_exists(f"{PREFIX}zz")
        t = time.monotonic()
        roster = _roster_csv(tmp / "class.csv")
        r = _spfteach("hub", "roster", str(roster), "--root", str(HUB_ROOT))
        assert r.returncode == 0, r.stderr
        term.roster_out = r.stdout
        term.mark("roster", t)
        hub = LocalHub(HUB_ROOT, hub.settings.port)  # the settings the roster wrote
        t = time.monotonic()
        hub.start()
        term.mark("hub start", t)
        # run again while the hub runs: changes nothing
        term.roster_again = _spfteach("hub", "roster", str(roster), "--root", str(HUB_ROOT)).stdout

        # 2. the instructor generates and releases, through the formgrader service
        t = time.monotonic()
        prof = hub.token(INSTRUCTOR)
        for a in RELEASED:
            for step in ("assign", "release"):
                st, body = hub.service_api(prof, "POST", f"formgrader/api/assignment/{a}/{step}")
                assert st == 200 and body["success"], (a, step, st, body)
        term.mark("release", t)
        term.formgrader = {
            "instructor": hub.service_api(prof, "GET", "formgrader/api/assignments")[0],
            "ta": hub.service_api(hub.token(TAS[0]), "GET", "formgrader/api/assignments")[0],
        }

        # 3. every student: token, server, fetch, answer, submit (through their own server)
        tokens = {s: hub.token(s) for s in STUDENTS}
        term.formgrader["student"] = hub.service_api(
            tokens[STUDENTS[1]], "GET", "formgrader/api/assignments")[0]
        term.formgrader["student-page"] = hub.service_api(
            tokens[STUDENTS[1]], "GET", "formgrader")[0]
        t = time.monotonic()
        with ThreadPoolExecutor(max_workers=5) as pool:
            work = dict(zip(STUDENTS, pool.map(
                lambda s: _student(hub, s, "work", tokens), STUDENTS), strict=True))
        term.mark("students fetch, answer, submit", t)
        term.impersonation = _impersonate(hub, tokens[ATTACKER])
        term.student = {s: dict(w) for s, w in work.items()}

        # 4. what a student cannot reach (checked while everything is in place)
        term.isolation = _isolation()
        bad = tokens[ATTACKER]
        term.cross = {
            "a classmate's server": hub.user_api(VICTIM, bad, "GET", "api/contents")[0],
            "the list of users": hub.api("GET", "users", token=bad)[0],
            "a token of a classmate's": hub.api("POST", f"users/{VICTIM}/tokens", {},
                                                token=bad)[0],
            "stopping a classmate's server": hub.api("DELETE", f"users/{VICTIM}/server",
                                                     token=bad)[0],
        }
        victim = hub.api("GET", f"users/{VICTIM}")[1]
        term.cross["the classmate's server still ready"] = victim["servers"][""]["ready"]

        # 5. the instructor collects (formgrader), autogrades (jailed, as the instructor)
        term.jail = _instructor(str(SPFTEACH), "grading", "jail")
        t = time.monotonic()
        for a in ASSIGNMENTS:
            st, body = hub.service_api(prof, "POST", f"formgrader/api/assignment/{a}/collect")
            assert st == 200 and body["success"], (a, st, body)
            term.log.append(body.get("log", ""))
        term.mark("collect", t)
        t = time.monotonic()
        term.autograde = {}
        for a in ASSIGNMENTS:
            r = _instructor(str(NBGRADER), "autograde", a, "--force")
            term.autograde[a] = r
            assert r.returncode == 0, r.stderr[-3000:]
        term.mark("autograde", t)
        t = time.monotonic()
        for a in ASSIGNMENTS:
            for step in ("generate_feedback", "release_feedback"):
                st, body = hub.service_api(prof, "POST", f"formgrader/api/assignment/{a}/{step}")
                assert st == 200 and body["success"], (a, step, st, body)
        term.mark("feedback", t)

        # 6. every student fetches their feedback
        t = time.monotonic()
        with ThreadPoolExecutor(max_workers=5) as pool:
            for s, fb in zip(STUDENTS, pool.map(
                    lambda s: _student(hub, s, "feedback", tokens), STUDENTS), strict=True):
                term.student[s].update(fb)
        term.mark("students fetch feedback", t)

        # 7. the export
        r = _instructor(str(NBGRADER), "export", "--to", str(HUB_ROOT / "course" / "grades.csv"))
        assert r.returncode == 0, r.stderr[-2000:]
        for row in csv.DictReader(io.StringIO((HUB_ROOT / "course" / "grades.csv").read_text())):
            term.grades[(row["assignment"], row["student_id"])] = float(row["raw_score"])
            term.max[row["assignment"]] = float(row["max_score"])
        term.export_csv = (HUB_ROOT / "course" / "grades.csv").read_text()
        term.hub = hub
        term.mark("term", t0)
        _keep(term)
        return term
    except BaseException:
        hub.stop()
        raise


def _keep(term: Term) -> None:
    """The term's logs, export and timings into test-artifacts/hub/ (for a person to read)."""
    out = ROOT / "test-artifacts" / "hub"
    out.mkdir(parents=True, exist_ok=True)
    (out / "grades.csv").write_text(term.export_csv)
    (out / "timings.json").write_text(json.dumps(term.t, indent=1) + "\n")
    (out / "collect.log").write_text("\n".join(term.log))
    for a, r in term.autograde.items():
        (out / f"autograde-{a}.log").write_text(r.stdout + r.stderr)


def _isolation() -> dict[str, subprocess.CompletedProcess[str]]:
    """Attempts as the attacker's own Unix user (what their kernel or terminal could do)."""
    victim_home = Path(pwd.getpwnam(VICTIM).pw_dir)
    inbound = HUB_ROOT / "exchange" / "spfteach" / "inbound"
    tries = {
        "read a classmate's notebook": ["cat", str(victim_home / "walk" / "walk.ipynb")],
        "list a classmate's home": ["ls", str(victim_home)],
        "list the exchange's submissions": ["ls", str(inbound)],
        "read the course's sources": ["cat", str(HUB_ROOT / "course" / "source" / "seqcount"
                                                  / "seqcount.ipynb")],
        "read the gradebook": ["cat", str(HUB_ROOT / "course" / "gradebook.db")],
        "write into the course": ["touch", str(HUB_ROOT / "course" / "x")],
        "rename the exchange's course": ["mv", str(HUB_ROOT / "exchange" / "spfteach"),
                                         str(HUB_ROOT / "exchange" / "stolen")],
    }
    return {what: accounts.as_user(ATTACKER, argv, timeout=30) for what, argv in tries.items()}


@pytest.fixture(scope="module")
def term(tmp_path_factory) -> Term:
    if os.geteuid() != 0:
        pytest.fail("the term test creates Unix users and runs a hub as root: run it as root")
    for exe in (SPFTEACH, NBGRADER):
        if not exe.exists():
            pytest.fail(f"{exe} is missing: run `make setup`")
    tmp = tmp_path_factory.mktemp("term")
    # One term at a time on this machine (another checkout's run would share the users and
    # the root, and its clean-up would remove this run's): wait for the other to finish.
    with open("/tmp/spfteach-hub-term.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            result = run_term(tmp)
        except BaseException:
            _clean()
            raise
        print("term timings (s): " + json.dumps({k: round(v, 1) for k, v in result.t.items()}))
        try:
            yield result
        finally:
            result.hub.stop()
            _clean()


# --- what the term must show -------------------------------------------------------------------


def test_roster_is_checked_whole_and_idempotent(term: Term) -> None:
    bad = term.bad_roster
    assert bad is not None and bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "not-an-address" in bad.stderr and ":2:" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not term.bad_left, "a bad roster created its first, good row's user"
    for u in [INSTRUCTOR, *TAS, *STUDENTS]:
        assert f"user {u} " in term.roster_out
        pw = pwd.getpwnam(u)
        assert Path(pw.pw_dir).parent == HUB_ROOT / "home"
    assert term.roster_again.strip() == "nothing to do: everyone is there"


def test_homes_are_private_and_servers_run_as_their_student(term: Term) -> None:
    for s in STUDENTS:
        pw = pwd.getpwnam(s)
        st = os.stat(pw.pw_dir)
        assert st.st_mode & 0o777 == 0o700 and st.st_uid == pw.pw_uid
        # what the student's server wrote is the student's: it runs as them
        assert term.student[s]["owner-walk"] == pw.pw_uid
        assert (Path(pw.pw_dir) / "00-start-here.ipynb").exists(), "the guided notebooks"


def test_every_student_fetched_and_submitted(term: Term) -> None:
    for s in STUDENTS:
        for a in ASSIGNMENTS:
            assert term.student[s][f"fetch-{a}"] == 200
            st, body = term.student[s][f"submit-{a}"]
            assert st == 200 and body.get("success", True), (s, a, body)


def test_autograde_ran_jailed_as_the_instructor(term: Term) -> None:
    """The jail starts for the instructor, an ordinary user (bubblewrap, unprivileged user
    namespaces), as the instructor's uid; autograde graded in it (it never grades
    unconfined: without the jail every part would be "not graded"), by the course's own
    Regrade, which runs no cell the student added."""
    assert term.jail.returncode == 0, term.jail.stderr
    assert f"as uid {pwd.getpwnam(INSTRUCTOR).pw_uid} " in term.jail.stdout, term.jail.stdout
    for r in term.autograde.values():
        assert "not graded" not in r.stdout + r.stderr, r.stderr[-2000:]
    assert "not run: 1 code cell you added" in term.student[ATTACKER]["feedback-text-seqcount"]


def test_export_has_the_scores_the_answers_deserve(term: Term) -> None:
    auto = {"walk": 4.0, "seqcount": 6.0}  # the autograded points; the rest is by hand
    assert {a: term.max[a] for a in ASSIGNMENTS} == {"walk": 6.0, "seqcount": 8.0}
    assert set(term.max) == set(RELEASED)  # released, and in the export, worked or not
    for a in set(RELEASED) - set(ASSIGNMENTS):
        assert all(term.grades[(a, s)] == 0 for s in STUDENTS)
    for s in STUDENTS:
        kind = KIND[s]
        for a in ASSIGNMENTS:
            got = term.grades[(a, s)]
            if kind == "right":
                assert got == auto[a], (s, a, got)
            elif kind == "blank":
                assert got == 0, (s, a, got)
            elif kind == "wrong":
                assert got <= auto[a] / 3, (s, a, got)
    # the attacker: forged grade cells, 100 points claimed, a cell rewriting the gradebook:
    # graded on the merits of the answer (the unretried reader: 2 of 6), walk left blank
    assert term.grades[("seqcount", ATTACKER)] == 2.0
    assert term.grades[("walk", ATTACKER)] == 0.0


def test_impersonation_does_not_replace_the_victims_submission(term: Term) -> None:
    """The attacker submitted a wrong walk under the victim's id (nbgrader's own exchange
    takes the id from the submitter's config), later than the victim's; the collect
    (spfteach.hub.exchange.OwnedCollect) keeps the victim's own."""
    assert term.impersonation["status"] == 200
    assert len(term.impersonation["forged"]) == 1, "the forged submission is not in the exchange"
    assert any("not collected" in log and "sptt-s01+walk+" in log for log in term.log), term.log
    assert term.grades[("walk", VICTIM)] == 4.0


def test_each_student_fetched_their_own_feedback(term: Term) -> None:
    for s in STUDENTS:
        for a in ASSIGNMENTS:
            htmls = term.student[s][f"feedback-{a}"]
            assert len(htmls) == 1, (s, a, htmls)
            text = term.student[s][f"feedback-text-{a}"]
            assert s in text or a in text


def test_a_student_reaches_nothing_of_anyone_else(term: Term) -> None:
    for what, r in term.isolation.items():
        assert r.returncode != 0, f"{what}: {r.stdout[:200]}"
        assert re.search(r"Permission denied|Operation not permitted", r.stderr), (what, r.stderr)
    assert term.formgrader["student"] == 403
    assert term.formgrader["student-page"] == 403
    # with their own token, through the hub: nobody else's server, no one else's token
    # (the hub answers 404 for a server the token may not even see)
    assert term.cross == {"a classmate's server": 403, "the list of users": 403,
                          "a token of a classmate's": 403,
                          "stopping a classmate's server": 404,
                          "the classmate's server still ready": True}, term.cross


def test_the_graders_reach_the_formgrader(term: Term) -> None:
    assert term.formgrader["instructor"] == 200
    assert term.formgrader["ta"] == 200


def test_the_idle_culler_runs_as_a_service(term: Term) -> None:
    st, services = term.hub.api("GET", "services")
    assert st == 200
    assert {"idle-culler", "spfteach"} <= set(services)
    assert services["idle-culler"]["pid"] > 0 and services["spfteach"]["pid"] > 0


def test_the_term_is_bounded(term: Term) -> None:
    assert term.t["term"] < 600, term.t


# --- what a person sees ------------------------------------------------------------------------


def _log_in(page, hub: LocalHub, user: str) -> None:  # noqa: ANN001 - a playwright Page
    """The hub's login form with a password set for ``user`` now (PAM checks it)."""
    password = secrets.token_urlsafe(16)
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r".*/(user|hub)/.*"), timeout=120_000)


@pytest.mark.browser
def test_screenshots_of_the_assignment_list_and_the_formgrader(term: Term) -> None:
    """A student's assignment list (JupyterLab, *Nbgrader → Assignment List*) after the term,
    and the instructor's formgrader (the hub service), in Debian's chromium."""
    from playwright.sync_api import sync_playwright

    from tests.browser import ARTIFACTS, chromium_path

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    hub, student = term.hub, STUDENTS[0]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage",
                                           "--disable-gpu"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            _log_in(page, hub, student)
            page.goto(f"{hub.url}/user/{student}/lab", timeout=120_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click(timeout=120_000)
            page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
            page.get_by_text("seqcount").first.wait_for(timeout=120_000)
            page.get_by_text("walk", exact=True).first.wait_for(timeout=60_000)
            page.get_by_text("vma_locks").first.wait_for(timeout=60_000)  # released, not fetched
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ARTIFACTS / "hub-student-assignments.png"))
            # the hub decided for every student: JupyterLab does not ask to fetch the news
            assert page.get_by_text("notified about official Jupyter news").count() == 0

            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            _log_in(page, hub, INSTRUCTOR)
            page.goto(f"{hub.url}/services/spfteach/formgrader", timeout=120_000)
            page.get_by_text("seqcount").first.wait_for(timeout=120_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ARTIFACTS / "hub-formgrader.png"))
            text = page.inner_text("body")
            assert "walk" in text and "seqcount" in text
        finally:
            browser.close()
    for name in ("hub-student-assignments.png", "hub-formgrader.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000
