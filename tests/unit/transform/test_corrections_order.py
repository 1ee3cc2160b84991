"""The chain order of a batch: a correction after its original, arrival order otherwise."""

from __future__ import annotations

import gc
import random
import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpr_gateway.transform.corrections import in_chain_order

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Item:
    event_id: uuid.UUID
    corrects: uuid.UUID | None


def _batch(links: list[int | None]) -> list[Item]:
    """``links[i]``: the position of the item that item i corrects (None: an original)."""
    ids = [uuid.UUID(int=i + 1) for i in range(len(links))]
    return [Item(ids[i], None if link is None else ids[link]) for i, link in enumerate(links)]


def test_a_correction_that_arrives_first_follows_its_original() -> None:
    items = _batch([None, 3, None, None, 1])  # 1 corrects 3 (later), 4 corrects 1
    assert in_chain_order(items) == [0, 2, 3, 1, 4]  # type: ignore[arg-type]


@given(st.data())
@settings(max_examples=200)
def test_every_item_once_and_each_after_what_it_corrects(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=0, max_value=30))
    links = [data.draw(st.one_of(st.none(), st.integers(0, size - 1))) for _ in range(size)]
    links = [None if link == i else link for i, link in enumerate(links)]
    # A correction names an original, never a correction: keep only links to originals.
    links = [link if link is not None and links[link] is None else None for link in links]
    items = _batch(links)
    order = in_chain_order(items)  # type: ignore[arg-type]
    assert sorted(order) == list(range(size))
    place = {index: rank for rank, index in enumerate(order)}
    for index, link in enumerate(links):
        if link is not None:
            assert place[link] < place[index]
    # Originals keep their arrival order.
    originals = [i for i in order if links[i] is None]
    assert originals == sorted(originals)


def test_ordering_leaves_no_garbage_cycle_holding_the_batch() -> None:
    items = _batch([None] * 100 + [random.Random(1).randrange(100) for _ in range(10)])
    gc.collect()
    gc.disable()
    try:
        in_chain_order(items)  # type: ignore[arg-type]
        assert gc.collect() == 0
    finally:
        gc.enable()
