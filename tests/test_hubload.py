"""The simulated student of ``make bench``'s load benchmark (spfteach/hubload/): one student, one
real Jupyter server, clicks that round-trip through the kernel's websocket.  About 5-20 s (a
JupyterLab server starts, a kernel imports the workbook); no timing is asserted."""

from __future__ import annotations

import asyncio
import json
import random
import struct
import subprocess
import sys

import pytest

from spfteach.hubload import procstat
from spfteach.hubload.bench import OwnServers, sizing
from spfteach.hubload.student import Student, StudentError, _decode


async def _one_student() -> dict[str, object]:
    fleet = OwnServers()
    student = None
    try:
        (server,) = await fleet.add(1)
        student = Student(server, timeout=60)
        await student.start()
        await student.open_stepper()
        seen: dict[str, object] = {"buttons": sorted(student.step_buttons()),
                                   "steps0": student.steps_taken()}
        first = await student.click("Step T0")
        second = await student.click("Step T0")
        reset = await student.click("Reset")
        seen["counts"] = [(c.steps_before, c.steps_after) for c in (first, second, reset)]
        with pytest.raises(StudentError, match="no button 'Step T9'"):
            await student.click("Step T9")
        pids = fleet.pids(server)
        seen["processes"] = len(pids)
        seen["pss_kib"] = sum(procstat.memory(p).pss_kib for p in pids)
        return seen
    finally:
        if student is not None:
            await student.stop()
        fleet.close()


@pytest.mark.timeout(90)
def test_a_click_round_trips_and_the_step_counter_advances() -> None:
    seen = asyncio.run(_one_student())
    assert seen["buttons"] == ["Step T0", "Step T1"]  # fault-vs-munmap: a fault and munmap()
    assert seen["steps0"] == 0
    # each Step click came back as the widget's own state update: the counter the student sees
    assert seen["counts"] == [(0, 1), (1, 2), (2, 0)]
    assert seen["processes"] >= 2  # the server and its kernel, both measured
    assert seen["pss_kib"] > 10 * 1024


def test_binary_frames_decode() -> None:
    """A message with binary buffers comes in the legacy binary framing: count, offsets, JSON."""
    body = json.dumps({"header": {"msg_type": "comm_msg"}}).encode()
    buf = b"\x00\x01\x02"
    head = struct.pack("!III", 2, 12, 12 + len(body))
    assert _decode(head + body + buf) == {"header": {"msg_type": "comm_msg"}}
    assert _decode(json.dumps({"a": 1})) == {"a": 1}


def test_a_student_resets_when_no_thread_can_move() -> None:
    st = Student(server=None)  # type: ignore[arg-type]
    st.models = {"a": {"_model_name": "ButtonModel", "description": "Step T0", "disabled": True},
                 "b": {"_model_name": "ButtonModel", "description": "Step T1", "disabled": False},
                 "c": {"_model_name": "ButtonModel", "description": "Reset"}}
    assert st.next_button(random.Random(0)) == "Step T1"
    st.models["b"]["disabled"] = True
    assert st.next_button(random.Random(0)) == "Reset"


def test_sizing_is_tljh_s_formula() -> None:
    """concurrent = (machine - hub - OS reserve) / ((server + largest kernel) PSS x 1.3)."""
    row = {"server_pss_mib": {"max": 100.0}, "kernel_pss_mib": {"max": 60.0},
           "hub_pss_mib": 260.0}
    res = {"sizes": [row], "whole_notebooks": [{"kernel_pss_mib": 100.0}]}
    got = sizing(res, total_gib=24.0, os_reserve_gib=2.0)
    assert got["measured_per_user_mib"] == 200.0  # the notebook's kernel, not the stepper's
    assert got["concurrent_students"] == int((24 * 1024 - 260 - 2048) // 260.0)
    res["whole_notebooks"] = []
    assert sizing(res, 24.0, 2.0)["measured_per_user_mib"] == 160.0


def test_bad_sizes_are_refused_in_one_line() -> None:
    r = subprocess.run([sys.executable, "-m", "spfteach.hubload.bench", "--sizes", "20,10"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "sizes must grow" in r.stderr and "Traceback" not in r.stderr
