"""``python -m spfteach.kernel STEP ...``: the kernel commands without the main CLI."""

from __future__ import annotations

import sys

from .commands import add_subparser, run
from .options import KernelParser


def main(argv: list[str] | None = None) -> int:
    parser = KernelParser(prog="spfteach")
    add_subparser(parser.add_subparsers(dest="cmd", metavar="COMMAND"))
    return run(parser.parse_args(["kernel", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
