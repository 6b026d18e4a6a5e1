"""The node signatures and structural hashes are keys that outlive a pipec version: recorded
statistics and the stage caches of users' runs are found by them. A change in how the IR is
serialised must not change them, or every user's caches and statistics would silently go cold."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipec.compiler.check import check_file
from pipec.compiler.passes.fingerprint import signature, structural_hashes

PIPELINE = Path(__file__).parents[2] / "examples" / "flights" / "flight_delays.pipe"


@pytest.fixture(scope="module")
def ir():
    return check_file(PIPELINE).pipelines["flight_delays"]


def test_a_signature_is_pinned(ir):
    (derive,) = [node for node in ir.nodes() if node.step == "derive"]
    assert signature(derive) == (
        '["derive",{"columns":[{"expr":{"kind":"binary","left":{"kind":"column","name":"arr_delay",'
        '"quoted":false,"type":{"base":"int","nullable":false}},"op":">","right":{"kind":"literal",'
        '"literal_type":"int","text":null,"type":{"base":"int","nullable":false},"value":15},'
        '"type":{"base":"bool","nullable":false}},"name":"late"},{"expr":{"args":[{"name":null,'
        '"value":{"kind":"column","name":"distance","quoted":false,"type":{"base":"int","nullable":false}}}],'
        '"kind":"call","name":"log","type":{"base":"float","nullable":false}},"name":"log_distance"}],'
        '"step":"derive"}]')


def test_the_structural_hashes_are_pinned(ir):
    assert structural_hashes(ir) == {
        "flights": "2974032e089b4066", "features__0_filter": "52245a8e428e7e71",
        "weather__0_read_csv": "edb6168cf2812d6b", "weather": "a89ef1a4526e0338",
        "features__1_join": "d87b34ed0560d1bf", "features__2_fill_null": "60110010d303bf06",
        "features__3_derive": "b2ab0840242dcc93", "features": "5f34a200eb60a7e0",
        "test": "0bf968f3ad0b2eab", "train": "64b2a404dd98730b", "model": "0ca64a763392279f",
        "scored": "c324430befac56c4", "by_carrier__0_aggregate": "9af1259732f2be40",
        "by_carrier": "11acad830699a1f3", "report": "4317fe4d8b2c8e5b",
        "sink1_write_parquet": "ee63889366a8fb85", "sink2_write_csv": "1997f66725d01e2b",
        "sink3_write_json": "bbe91118988d1830", "sink4_save_model": "b09a5c1b63ca9446",
    }
