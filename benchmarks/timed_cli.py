"""Run the `handdg` command line with a StepClock on: `python benchmarks/timed_cli.py train ...`.

Works under torchrun. Each process writes its optimiser-step timestamps, one per line, to
`$HANDDG_STEP_CLOCK.rank<RANK>` when the command ends, so a benchmark can time the steps of
the real `handdg train` (and its DDP path) from outside.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness import StepClock


def main() -> None:
    """Run the CLI under a StepClock, then write the timestamps."""
    from handdg.cli import main as handdg

    out = Path(f"{os.environ['HANDDG_STEP_CLOCK']}.rank{os.environ.get('RANK', '0')}")
    with StepClock() as clock:
        try:
            handdg(prog_name="handdg")
        finally:
            out.write_text("".join(f"{stamp!r}\n" for stamp in clock.stamps))


if __name__ == "__main__":
    main()
