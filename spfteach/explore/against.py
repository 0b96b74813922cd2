"""The explorer now against the explorer of an earlier commit, side by side in one run:
``python -m spfteach.explore.against REV`` (``make bench`` runs it against ``BENCH_AGAINST``).

A refactor of the model or the search (issue 24) must leave the explorer no slower. This checks
the commit ``REV`` out into a temporary git worktree, then times the default search over every
scenario of the catalogue in both trees, in fresh processes taking turns (``--rounds`` rounds,
so a busy machine slows both alike), and prints per scenario the states each found (they must be
equal: the rebuild changes no behaviour), the median CPU seconds of each and their ratio, and the
totals. It measures and does not assert; the figures go to ``spfteach/data/explore-against.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import resources

REPO = Path(__file__).resolve().parents[2]

#: What each tree runs: CPU seconds and states of the default search, per scenario. It uses
#: only names every version of the package has had (``SCENARIOS``, ``explore``).
_PROBE = """
import json, time
from spfteach.scenarios import SCENARIOS
from spfteach.explore.search import explore
out = {}
for name, scen in SCENARIOS.items():
    t0 = time.process_time()
    r = explore(scen)
    out[name] = [time.process_time() - t0, r.states]
print(json.dumps(out))
"""


class AgainstError(Exception):
    """Why the comparison cannot run, in one line."""


def _git(*args: str, cwd: Path = REPO) -> str:
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise AgainstError(f"git {' '.join(args)}: {r.stderr.strip() or 'failed'}")
    return r.stdout.strip()


def _probe(tree: Path) -> dict[str, list[float]]:
    r = subprocess.run([sys.executable, "-c", _PROBE], cwd=tree, capture_output=True,
                       text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    if r.returncode:
        raise AgainstError(f"the explorer of {tree} failed: {r.stderr.strip().splitlines()[-1]}")
    return json.loads(r.stdout)


def compare(rev: str, rounds: int = 3) -> dict[str, object]:
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="spfteach-against-") as tmp:
        old = Path(tmp) / "tree"
        _git("worktree", "add", "--detach", "--quiet", str(old), commit)
        try:
            runs: dict[str, list[dict]] = {"then": [], "now": []}
            for i in range(rounds):
                print(f"round {i + 1} of {rounds} ...", file=sys.stderr)
                runs["then"].append(_probe(old))
                runs["now"].append(_probe(REPO))
        finally:
            _git("worktree", "remove", "--force", str(old))
    rows = []
    print(f"{'scenario':<30} {'states':>7} {'then':>7} {'s then':>8} {'s now':>8} {'ratio':>6}")
    for name in runs["now"][0]:
        if name not in runs["then"][0]:
            continue
        t = statistics.median(r[name][0] for r in runs["then"])
        n = statistics.median(r[name][0] for r in runs["now"])
        row = {"scenario": name, "states": runs["now"][0][name][1],
               "states_then": runs["then"][0][name][1], "seconds_then": round(t, 4),
               "seconds_now": round(n, 4), "ratio": round(n / t, 3) if t else None}
        rows.append(row)
        print(f"{name:<30} {row['states']:>7} {row['states_then']:>7} {t:>8.3f} {n:>8.3f} "
              f"{n / t if t else 0:>5.2f}x")
    then_total = sum(float(r["seconds_then"]) for r in rows)  # type: ignore[arg-type]
    now_total = sum(float(r["seconds_now"]) for r in rows)  # type: ignore[arg-type]
    same_states = all(r["states"] == r["states_then"] for r in rows)
    print(f"\ntotal {now_total:.2f} s now, {then_total:.2f} s at {rev} ({commit[:12]}): "
          f"{now_total / then_total:.2f}x; states the same in every scenario: {same_states}")
    return {"against": rev, "commit": commit, "rounds": rounds, "rows": rows,
            "seconds_then": round(then_total, 3), "seconds_now": round(now_total, 3),
            "ratio": round(now_total / then_total, 3), "same_states": same_states}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m spfteach.explore.against", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rev", help="the commit to compare with (a hash, a tag, HEAD~3)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of both (default 3)")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error(f"--rounds must be 1 or more, not {args.rounds}")
    data = resources.checkout_data_or_exit(p.prog)
    try:
        result = compare(args.rev, args.rounds)
    except AgainstError as e:
        print(f"against: {e}", file=sys.stderr)
        return 2
    (data / "explore-against.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {data / 'explore-against.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
