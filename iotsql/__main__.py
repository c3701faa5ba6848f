"""`python -m iotsql`: the `iotsql` command."""

from iotsql.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
