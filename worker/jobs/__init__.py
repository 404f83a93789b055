"""Running jobs in a worker slot: the runner (claim, heartbeat, outcome), the workspace of local
files, and one module per kind of job, each plain ``core`` calls (``handlers``: kind -> handler)."""
