"""The roster's CSV is read whole and strictly: every mistake is one line naming the line and
what to do, before anything is created (tests/hub/test_term.py applies a real one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spfteach.hub.roster import RosterError, Row, parse


def test_rows_with_and_without_header_and_role() -> None:
    text = ("id,first_name,last_name,email,role\n"
            "s01,Ada,Lovelace,ada@example.org\n"
            "\n"
            "ta1, Alan ,Turing,alan@example.org,grader\n"
            "prof,Grace,Hopper,grace@example.org,instructor\n")
    assert parse(text) == [Row("s01", "Ada", "Lovelace", "ada@example.org", "student"),
                           Row("ta1", "Alan", "Turing", "alan@example.org", "grader"),
                           Row("prof", "Grace", "Hopper", "grace@example.org", "instructor")]
    assert parse("s01,Ada,Lovelace,ada@example.org,\n")[0].role == "student"


@pytest.mark.parametrize(("text", "says"), [
    ("s01,Ada,ada@example.org\n", "r:1: expected 4 or 5 fields"),
    ("s01,Ada,Lovelace,ada@example.org\nS02,B,C,b@example.org\n", "r:2: id 'S02' is not a login"),
    ("1ab,A,B,a@example.org\n", "id '1ab' is not a login"),
    ("s01,Ada,Lovelace,not-an-address\n", "r:1: 'not-an-address' is not an e-mail address"),
    ("s01,,Lovelace,ada@example.org\n", "r:1: first name '' must be"),
    ("s01,Ada,Love:lace,ada@example.org\n", "r:1: last name 'Love:lace' must be"),
    ("s01,Ada,Lovelace,ada@example.org,teacher\n", "role 'teacher' is not one of"),
    ("s01,A,B,a@example.org\ns01,C,D,c@example.org\n", "r:2: id 's01' is already on line 1"),
    ("id,first_name,last_name,email\n", "r: no one in it"),
])
def test_a_bad_row_is_one_line(text: str, says: str) -> None:
    with pytest.raises(RosterError) as e:
        parse(text, "r")
    assert says in str(e.value) and "\n" not in str(e.value)


def test_the_command_says_one_line_and_exits_2(tmp_path: Path) -> None:
    """A missing file, and a bad row: one line, exit 2, no traceback, nothing made."""
    spfteach = Path(sys.executable).parent / "spfteach"
    root = tmp_path / "hub"
    bad = tmp_path / "bad.csv"
    bad.write_text("s01,Ada,Lovelace,nope\n")
    for csv_file, says in ((tmp_path / "missing.csv", "cannot read"),
                           (bad, "'nope' is not an e-mail address")):
        r = subprocess.run([str(spfteach), "hub", "roster", str(csv_file), "--root", str(root)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and says in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    assert not root.exists()
