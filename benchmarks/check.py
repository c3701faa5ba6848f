"""`python benchmarks/check.py [--repeat N] [--json]`: `iotsql check` on a folder of 500 rules
across the formats it reads, next to reading the files and compiling the statements alone.

The workload and the runner live in `iotsql/benchmark/check.py`; see benchmarks/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run the checkout this file belongs to, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iotsql.benchmark.check import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
