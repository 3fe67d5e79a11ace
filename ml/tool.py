"""The command-line shell every ``python -m ml.<tool> --config x.json`` child shares.

Exit 0 on success, 3 when a checkpoint is refused, 1 on any other error, with one line on standard
error saying why (the parent shows that line on its job row).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ml.verify import CheckpointRefused

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REFUSED = 3


def run_tool(
    prog: str, description: str, config_help: str, work: Callable[[dict[str, Any]], object], argv: Sequence[str] | None
) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", required=True, type=Path, help=config_help)
    args = parser.parse_args(argv)
    try:
        work(json.loads(args.config.read_text(encoding="utf-8")))
    except CheckpointRefused as exc:
        print(f"checkpoint refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as exc:  # the parent shows this line on the job
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
