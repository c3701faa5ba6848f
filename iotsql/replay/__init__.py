"""Replaying recorded messages through topic rules (`iotsql replay`), in one process or spread
over a Dask cluster.

- `lines`: reading MESSAGES, one JSON message per line, each line bounded in size;
- `summary`: the counts per rule and in all, and how parts of a replay add up;
- `replayer`: `Replayer`, publishing messages through an engine that accepts every action,
  and `RuleDefinitions`, the rules as data another process builds the same engine from;
- `blocks`: files cut in byte ranges that each know the numbers of their lines;
- `partition`: the tasks a Dask worker runs, by block or by topic;
- `distributed`: the cluster (a LocalCluster or an existing one) and the replay on it; the
  only module that imports Dask, when it is called.

docs/cli.md ("Distributed replay") says what is guaranteed: which messages share a partition,
in which order they are published, how the summary merges."""
