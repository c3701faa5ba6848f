"""`python benchmarks/run.py [options]`: the benchmark of iotsql, the same as `iotsql bench`.

The workload, the hand-written baselines and the runner are the `iotsql.benchmark` package, so
that an installed wheel runs them too; see benchmarks/README.md for what is measured.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run the checkout this file belongs to, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iotsql.cli.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
