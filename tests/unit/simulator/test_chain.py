"""The register's chains: numbers and GUIDs per sender and municipality, forks and gaps."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence

import pytest

from kpr_gateway.messages.apprec import AppRecErrorCode
from kpr_gateway.messages.iplos_kpr import NumberedNotification, ParsedNotification, parse_melding
from kpr_gateway.simulator.chain import ChainBook, ChainLinks, gap_error, links_of
from tests.unit.simulator.support import chain, melding

KEY = ("90002", "0301")


def links(numbered: Sequence[NumberedNotification]) -> ChainLinks:
    return ChainLinks(
        first_seq=numbered[0].seq,
        previous=numbered[0].previous.bytes,
        guids=b"".join(item.notification.event_id.bytes for item in numbered),
    )


def refs(errors: Sequence[AppRecErrorCode]) -> list[str]:
    return [error.ref or "" for error in errors]


def test_a_chain_in_order_is_recorded_without_complaint() -> None:
    book = ChainBook()
    numbered = chain(9)
    for part in (numbered[:3], numbered[3:6], numbered[6:]):
        verdict = book.enter(KEY, links(part))
        assert verdict.errors == ()
        assert verdict.waits_for is None
    assert book.received(KEY, 9)
    assert not book.received(KEY, 10)
    assert not book.received(("90002", "4601"), 1)  # another municipality, another chain


def test_a_repeat_is_accepted() -> None:
    book = ChainBook()
    numbered = chain(6)
    book.enter(KEY, links(numbered[:3]))
    book.enter(KEY, links(numbered[3:]))
    assert book.enter(KEY, links(numbered[3:])) == book.enter(KEY, links(numbered[:3]))
    assert book.enter(KEY, links(numbered[2:5])).errors == ()  # overlapping resend


def test_a_number_received_with_another_guid_is_a_fork_and_not_recorded() -> None:
    book = ChainBook()
    book.enter(KEY, links(chain(3)))
    other = chain(4, branch=1)

    verdict = book.enter(KEY, links(other))

    assert [e.code for e in verdict.errors] == ["KPR21"] * 3
    assert refs(verdict.errors)[0] == "seq 1: received before with another notifikasjonGUID"
    assert not book.received(KEY, 4)  # nothing of a fork is recorded


def test_a_previous_guid_other_than_the_number_befores_is_a_fork() -> None:
    book = ChainBook()
    book.enter(KEY, links(chain(3)))
    stray = chain(6, branch=1)[3:]  # 4..6 of another chain: previous is its own seq 3

    verdict = book.enter(KEY, links(stray))

    assert [e.code for e in verdict.errors] == ["KPR21"]
    assert "seq 4" in refs(verdict.errors)[0]
    assert "seq 3" in refs(verdict.errors)[0]


def test_a_gap_waits_and_the_message_is_recorded() -> None:
    book = ChainBook()
    numbered = chain(9)
    book.enter(KEY, links(numbered[:3]))

    verdict = book.enter(KEY, links(numbered[6:]))

    assert (verdict.errors, verdict.waits_for) == ((), 6)
    assert book.first_missing_before(KEY, 7) == 4
    assert book.enter(KEY, links(numbered[3:6])).waits_for is None  # closes the gap
    assert book.first_missing_before(KEY, 7) is None


def test_a_late_message_must_lead_to_the_previous_guid_claimed_across_the_gap() -> None:
    book = ChainBook()
    numbered = chain(6)
    assert book.enter(KEY, links(numbered[3:])).waits_for == 3

    verdict = book.enter(KEY, links(chain(3, branch=1)))

    assert [e.code for e in verdict.errors] == ["KPR21"]
    assert refs(verdict.errors)[0].startswith("seq 4:")
    assert book.enter(KEY, links(numbered[:3])).errors == ()


def test_a_chain_that_does_not_start_at_one_waits_for_the_first() -> None:
    book = ChainBook()
    assert book.first_missing_before(KEY, 1) is None
    assert book.first_missing_before(KEY, 5) == 1
    assert book.enter(KEY, links(chain(6)[4:])).waits_for == 4
    assert book.first_missing_before(KEY, 5) == 1


def test_a_number_far_past_the_chain_is_refused_without_growing_it() -> None:
    book = ChainBook(max_ahead=100)
    book.enter(KEY, links(chain(3)))
    far = ChainLinks(first_seq=10**12, previous=bytes(16), guids=uuid.uuid4().bytes)

    verdict = book.enter(KEY, far)

    assert [e.code for e in verdict.errors] == ["KPR20"]
    assert "more than 100 numbers past" in refs(verdict.errors)[0]
    assert not book.received(KEY, 10**12)


def test_the_gap_error_names_the_missing_numbers() -> None:
    assert gap_error(7, 4).ref == "seq 7 follows a gap: seqs 4 to 6 not received"
    assert gap_error(7, 6).ref == "seq 7 follows a gap: seq 6 not received"
    assert gap_error(7, 6).code == "KPR20"


def test_links_of_a_melding() -> None:
    numbered = chain(5)
    parsed = parse_melding(melding(numbered[2:])).notifications

    read = links_of(parsed)

    assert read == links(numbered[2:])
    assert isinstance(read, ChainLinks)
    assert (read.first_seq, read.last_seq, read.count) == (3, 5, 3)
    assert links_of(()) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda ns: [ns[0], ns[2]], "seq 3 follows seq 1 in the message"),
        (
            lambda ns: [ns[0], dataclasses.replace(ns[1], previous=ns[2].event_id)],
            "seq 2: notifikasjonForrigeGUID is not the GUID of seq 1",
        ),
        (
            lambda ns: [dataclasses.replace(ns[0], previous=ns[1].event_id)],
            "seq 1: notifikasjonForrigeGUID of the first notification is not Guid.Empty",
        ),
        (
            lambda ns: [
                ns[0],
                dataclasses.replace(ns[1], event_id=ns[0].event_id, previous=ns[0].event_id),
            ],
            "seq 2: its notifikasjonGUID occurs twice in the message",
        ),
    ],
)
def test_links_that_do_not_follow_one_another_are_refused(
    change: Callable[[list[ParsedNotification]], list[ParsedNotification]], reason: str
) -> None:
    broken = change(list(parse_melding(melding(chain(3))).notifications))

    read = links_of(broken)

    assert isinstance(read, list)
    assert [(e.code, e.ref) for e in read] == [("KPR21", reason)]
