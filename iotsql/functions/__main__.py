"""`python -m iotsql.functions` prints docs/functions.md."""

import sys

from iotsql.functions.registry import functions_markdown

sys.stdout.write(functions_markdown())
