"""Generated code, IR JSON and `explain` stay byte-identical to the stored snapshots
(`python -m tests.golden.snapshot --update` after a deliberate change, then review the diff)."""
import difflib

import pytest

from tests.golden.snapshot import SNAPSHOTS, render_all


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_all()


def test_every_snapshot_is_still_produced(rendered):
    stored = {p.relative_to(SNAPSHOTS).as_posix() for p in SNAPSHOTS.rglob("*") if p.is_file()}
    assert stored, "no snapshots stored"
    assert sorted(stored ^ rendered.keys()) == []


def test_generated_texts_match_the_snapshots(rendered):
    changed = []
    for name, text in sorted(rendered.items()):
        path = SNAPSHOTS / name
        stored = path.read_text() if path.is_file() else ""
        if stored != text:
            diff = difflib.unified_diff(stored.splitlines(), text.splitlines(), "stored", "now", lineterm="", n=1)
            changed.append(f"{name}:\n" + "\n".join(list(diff)[:40]))
    assert not changed, "\n\n".join(changed[:5]) + f"\n({len(changed)} changed)"
