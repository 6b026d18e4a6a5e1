"""The backends. `BACKENDS` is their registry: a name (what `--target` takes) and the package
that holds the backend (see base.py for what the package provides). Adding a backend is its
folder plus one line here. Kept free of imports, so the command line reads it at no cost."""

BACKENDS: dict[str, str] = {
    "local": "pipec.backends.local",
    "spark": "pipec.backends.spark",
    "airflow": "pipec.backends.airflow",
}
