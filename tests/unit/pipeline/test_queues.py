"""Queue names and the declared arguments of the topology."""

from __future__ import annotations

import pytest

from kpr_gateway.pipeline.errors import BusError
from kpr_gateway.pipeline.queues import EVENTS, MESSAGES, OUTBOX, RECEIPTS, WORK_QUEUES, Topology


def test_default_topology_has_the_four_work_queues() -> None:
    assert Topology().queue_names == WORK_QUEUES == ("events", "messages", "outbox", "receipts")


def test_prefix_applies_to_every_queue() -> None:
    topology = Topology([EVENTS], prefix="t42", retry_delays=(1, 5))
    work = topology.work_queue(EVENTS)
    assert topology.physical(EVENTS) == "t42.events"
    assert work.queue.name == "t42.events"
    assert work.parked.name == "t42.events.parked"
    assert [step.queue.name for step in work.retries] == [
        "t42.events.retry.1",
        "t42.events.retry.2",
    ]


def test_work_queue_is_quorum_with_delivery_limit_and_dead_letters_to_parking() -> None:
    work = Topology([MESSAGES], delivery_limit=7).work_queue(MESSAGES)
    assert work.queue.arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "messages.parked",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert work.parked.arguments == {"x-queue-type": "quorum"}


def test_only_events_has_a_single_active_consumer() -> None:
    topology = Topology()
    assert topology.work_queue(EVENTS).queue.arguments["x-single-active-consumer"] is True
    for logical in (MESSAGES, OUTBOX, RECEIPTS):
        assert "x-single-active-consumer" not in topology.work_queue(logical).queue.arguments
    # its retry and parking queues have no consumers: nothing to choose between there
    events = topology.work_queue(EVENTS)
    for spec in (events.parked, *(step.queue for step in events.retries)):
        assert "x-single-active-consumer" not in spec.arguments


def test_retry_queues_expire_back_into_the_work_queue() -> None:
    work = Topology([EVENTS], retry_delays=(0.25, 30)).work_queue(EVENTS)
    first, second = work.retries
    assert first.queue.arguments["x-message-ttl"] == 250
    assert second.queue.arguments["x-message-ttl"] == 30_000
    for step in work.retries:
        assert step.queue.arguments["x-dead-letter-exchange"] == ""
        assert step.queue.arguments["x-dead-letter-routing-key"] == "events"
        assert step.target == "events"


def test_retry_step_follows_the_schedule_then_repeats_the_last() -> None:
    work = Topology([EVENTS], retry_delays=(1, 5, 30)).work_queue(EVENTS)
    assert [work.retry_step(n).delay_seconds for n in (1, 2, 3, 4, 9)] == [1, 5, 30, 30, 30]
    with pytest.raises(BusError):
        work.retry_step(0)


def test_dead_letter_targets_are_declared_first() -> None:
    names = [spec.name for spec in Topology([EVENTS], retry_delays=(1,)).specs()]
    assert names == ["events.parked", "events", "events.retry.1"]


@pytest.mark.parametrize(
    ("queues", "prefix"),
    [(["bad name"], ""), (["events"], "amq.x"), (["events"], "a/b"), ([], ""), (["x" * 300], "")],
)
def test_invalid_names_are_refused(queues: list[str], prefix: str) -> None:
    with pytest.raises(BusError):
        Topology(queues, prefix=prefix)


@pytest.mark.parametrize(
    "kwargs", [{"retry_delays": ()}, {"retry_delays": (1, 0)}, {"delivery_limit": 0}]
)
def test_invalid_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(BusError):
        Topology([EVENTS], **kwargs)  # type: ignore[arg-type]


def test_unknown_queue_is_a_bus_error() -> None:
    with pytest.raises(BusError, match="not part of the topology"):
        Topology().work_queue("nowhere")
    assert "nowhere" not in Topology()
