"""number(): notifikasjonLopeNr rises by one per notification, notifikasjonForrigeGUID names the
one before (Guid.Empty first), and the new head continues where the batch ended."""

from __future__ import annotations

from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from kpr_gateway.messages.iplos_kpr import (
    GUID_EMPTY,
    ChainHead,
    Notification,
    NumberedNotification,
    head_after,
    number,
    patient_guid,
)
from tests.unit.iplos_kpr.examples import SECRET, event_id, notification


def notifications(count: int, offset: int = 0) -> list[Notification]:
    return [
        notification(event_id=event_id(offset + index + 1), person={"user_number": f"U{index % 3}"})
        for index in range(count)
    ]


def test_empty_chain_starts_after_guid_empty() -> None:
    assert ChainHead() == ChainHead(0, GUID_EMPTY)
    assert UUID("00000000-0000-0000-0000-000000000000") == GUID_EMPTY


def test_first_batch_numbers_from_one() -> None:
    items = notifications(3)
    numbered, head = number(ChainHead(), items, SECRET)
    assert [n.seq for n in numbered] == [1, 2, 3]
    assert [n.previous for n in numbered] == [GUID_EMPTY, items[0].event_id, items[1].event_id]
    assert [n.notification for n in numbered] == items
    assert head == ChainHead(3, items[2].event_id)


def test_next_batch_continues_the_chain() -> None:
    first, second = notifications(2), notifications(2, offset=2)
    _, head = number(ChainHead(), first, SECRET)
    numbered, new_head = number(head, second, SECRET)
    assert [n.seq for n in numbered] == [3, 4]
    assert numbered[0].previous == first[1].event_id
    assert numbered[1].previous == second[0].event_id
    assert new_head == ChainHead(4, second[1].event_id)


def test_empty_batch_leaves_the_head() -> None:
    head = ChainHead(7, UUID(event_id(7)))
    assert number(head, [], SECRET) == ([], head)
    assert head_after([], head) == head


def test_patient_guids_come_from_the_user_number_and_the_secret() -> None:
    numbered, _ = number(ChainHead(), notifications(4), SECRET)
    assert [n.patient_guid for n in numbered] == [
        patient_guid(n.notification.person.user_number, SECRET) for n in numbered
    ]
    assert numbered[0].patient_guid == numbered[3].patient_guid  # both U0
    assert numbered[0].patient_guid != numbered[1].patient_guid


def test_numbering_is_deterministic_and_accepts_an_iterator() -> None:
    items = notifications(3)
    assert number(ChainHead(), iter(items), SECRET) == number(ChainHead(), items, SECRET)


@given(sizes=st.lists(st.integers(0, 5), max_size=6))
def test_batches_in_a_row_make_one_chain(sizes: list[int]) -> None:
    head = ChainHead()
    chain: list[NumberedNotification] = []
    offset = 0
    for size in sizes:
        batch = notifications(size, offset)
        offset += size
        numbered, new_head = number(head, batch, SECRET)
        assert new_head == head_after(numbered, head)
        chain.extend(numbered)
        head = new_head
    assert [n.seq for n in chain] == list(range(1, offset + 1))
    previous = [GUID_EMPTY, *[n.notification.event_id for n in chain]][: len(chain)]
    assert [n.previous for n in chain] == previous
    last = chain[-1] if chain else None
    assert head == (ChainHead(last.seq, last.notification.event_id) if last else ChainHead())
