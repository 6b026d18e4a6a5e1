"""The local backend: runs a plan in-process with polars (lazy frames) and scikit-learn.

Planning: polars' lazy engine runs joins, aggregates and sorts inside one query (no stage boundary
there), and every source is read into memory once (reading it again costs nothing).
"""
from pipec.backends.base import backend_on_demand
from pipec.backends.capabilities import Capabilities

CAPABILITIES = Capabilities(name="local", keeps_sources=True)

__getattr__ = backend_on_demand("pipec.backends.local.backend", frozenset({"BACKEND", "LocalBackend"}))
