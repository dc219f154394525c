"""``python -m podpilot_dev.operator_with_faults run [flags]``: ``podpilot run`` with the fault
hooks its environment asks for (``fault_hooks``). Only the e2e tests start it."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from podpilot.cli import build_parser
from podpilot.commands.run import run
from podpilot_dev.fault_hooks import hooks_from


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(only="run").parse_args(argv)
    return run(args, hooks_from(os.environ))


if __name__ == "__main__":
    sys.exit(main())
