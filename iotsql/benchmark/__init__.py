"""The benchmark of iotsql (`iotsql bench`): iotsql against hand-written Python doing the same
work, in one process, on workloads generated from a seed; benchmarks/README.md describes what
is measured and records runs.

- `workload`: the rules, their message streams, the routing filters and topics, the engine's
  rules and mixed stream;
- `baselines`: the hand-written rules, trie and publish;
- `timing`: CPU time per slice, best of several rounds, runs interleaved;
- one module per section: `rules`, `routing`, `engine`, `compile`, `memory`;
- `check`: `iotsql check` on a folder of 500 rules across formats (`python benchmarks/check.py`,
  not a section of `iotsql bench`);
- `report`: results, targets, text and JSON; `runner`: `run()`.

The package is part of the wheel so that `iotsql bench` measures an installed iotsql; the
benchmarks/ folder of the repository holds the scripts that need a broker or moto."""
