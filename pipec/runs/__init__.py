"""The run store: a record of every `pipec run` (what ran, on which data, params and code, with
which outcome), so that runs can be listed, inspected and compared, and so that later runs can
tell what changed. SQLite in `<workdir>/.pipec/runs.db` by default; PostgreSQL for a team
(`--runs-db postgresql://...` or `PIPEC_RUNS_DB`). See docs/runs.md."""
