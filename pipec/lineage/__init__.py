"""Lineage: which source columns every sink column comes from (`columns.py`, from the IR and the
steps' `lineage` hooks), how it is shown (`render.py`), and which recorded run wrote an output
file (`provenance.py`); `pipec lineage` (`command.py`) offers both. See docs/lineage.md."""
