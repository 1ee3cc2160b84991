"""The backfill's parts on their own: reading batches, the throttle's arithmetic, the state
file, the journal's frontier, reading answers."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from kpr_gateway.cli.backfill.answers import BatchOutcome, Refusal, read_answer
from kpr_gateway.cli.backfill.errors import BackfillStoppedError, StateMismatchError
from kpr_gateway.cli.backfill.journal import Journal
from kpr_gateway.cli.backfill.reader import Batch, BatchReader
from kpr_gateway.cli.backfill.sender import RetryPolicy
from kpr_gateway.cli.backfill.state import BackfillState, FileIdentity, load_state, save_state
from kpr_gateway.cli.backfill.throttle import Throttle, batch_sizes, events_per_minute


def lines_file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "events.ndjson"
    path.write_bytes(content)
    return path


def test_batches_skip_blank_lines_and_know_where_they_end(tmp_path: Path) -> None:
    path = lines_file(tmp_path, b'{"a":1}\n\n{"a":2}\r\n{"a":3}\n  \n{"a":4}')
    reader = BatchReader(path, offset=0, line=0, sizes=itertools.repeat(2))
    first, second = list(reader)
    assert first.lines == (b'{"a":1}', b'{"a":2}')
    assert first.line_numbers == (1, 3)
    assert (first.end, first.end_line) == (len(b'{"a":1}\n\n{"a":2}\r\n'), 3)
    assert second.lines == (b'{"a":3}', b'{"a":4}')
    assert second.line_numbers == (4, 6)
    assert second.body == b'{"a":3}\n{"a":4}\n'
    assert (reader.position, reader.line) == (path.stat().st_size, 6)
    resumed = list(BatchReader(path, offset=first.end, line=first.end_line, sizes=iter([5])))
    assert [b.line_numbers for b in resumed] == [(4, 6)]


def test_the_reader_reads_as_it_goes(tmp_path: Path) -> None:
    """A batch comes as soon as its lines are there: through a pipe whose writer has not
    finished, the first batch arrives long before the end of the file."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    finished = threading.Event()

    def write() -> None:
        with fifo.open("wb") as pipe:
            pipe.write(b"".join(b'{"n":%d}\n' % n for n in range(15)))
            pipe.flush()
            finished.wait(5)

    writer = threading.Thread(target=write)
    writer.start()
    started = time.monotonic()
    batches = iter(BatchReader(fifo, offset=0, line=0, sizes=itertools.repeat(10)))
    first = next(batches)
    waited = time.monotonic() - started
    finished.set()
    rest = list(batches)
    writer.join()
    assert waited < 4
    assert first.line_numbers == tuple(range(1, 11))
    assert [b.line_numbers for b in rest] == [tuple(range(11, 16))]


def test_trailing_blank_lines_end_the_file_without_a_batch(tmp_path: Path) -> None:
    path = lines_file(tmp_path, b'{"a":1}\n\n\n')
    reader = BatchReader(path, offset=0, line=0, sizes=itertools.repeat(1))
    assert [b.line_numbers for b in reader] == [(1,)]
    assert (reader.position, reader.line) == (path.stat().st_size, 3)


def test_batch_sizes_never_straddle_a_burst() -> None:
    assert list(itertools.islice(batch_sizes(1000, 1500), 5)) == [1000, 500, 1000, 500, 1000]
    assert list(itertools.islice(batch_sizes(1000, 3000), 4)) == [1000, 1000, 1000, 1000]
    assert list(itertools.islice(batch_sizes(500, 200), 3)) == [200, 200, 200]
    assert list(itertools.islice(batch_sizes(700, None), 3)) == [700, 700, 700]


def test_events_per_minute_is_messages_times_their_size() -> None:
    assert events_per_minute(10, 1500) == 15_000
    assert events_per_minute(0.5, 1500) == 750


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bursts_begin_at_most_m_times_a_minute() -> None:
    clock = Clock()
    throttle = Throttle(10, 1500, clock=clock)
    assert throttle.interval == 6.0
    # Back to back: each burst waits for its slot, 6 s after the one before.
    assert [throttle.delay() for _ in range(3)] == [0.0, 6.0, 12.0]
    clock.now += 18.0  # the three bursts' slots have passed
    assert throttle.delay() == 0.0
    clock.now += 2.0
    assert throttle.delay() == 4.0


def test_a_slow_run_never_waits_and_never_rushes_to_catch_up() -> None:
    clock = Clock()
    throttle = Throttle(60, 100, clock=clock)
    assert throttle.delay() == 0.0
    clock.now += 10.0  # far slower than one burst a second
    assert throttle.delay() == 0.0
    assert throttle.delay() == 1.0  # the next burst still waits its full interval


def test_in_any_minute_at_most_m_bursts_begin() -> None:
    clock = Clock()
    throttle = Throttle(4, 1500, clock=clock)
    starts = []
    for _ in range(20):
        clock.now += throttle.delay()
        starts.append(clock.now)
        clock.now += 0.5  # the burst's requests
    for start in starts:
        assert sum(1 for s in starts if start <= s < start + 60) <= 4


@pytest.mark.parametrize(("messages", "size"), [(0, 10), (5, 0), (-1, 10)])
def test_a_throttle_needs_positive_numbers(messages: float, size: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        Throttle(messages, size)


def test_backoff_honours_retry_after_and_doubles_otherwise() -> None:
    policy = RetryPolicy(attempts=5, base_seconds=1.0, cap_seconds=8.0)
    assert policy.backoff(1, 2.5) == 2.5
    assert policy.backoff(1, 300) == 8.0
    assert policy.backoff(1, -1) == 0.0
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0)]:
        assert ceiling / 2 <= policy.backoff(attempt, None) <= ceiling


def test_a_state_file_round_trips_and_belongs_to_one_file(tmp_path: Path) -> None:
    events = lines_file(tmp_path, b'{"a":1}\n')
    identity = FileIdentity.of(events)
    state = BackfillState(file=identity, tenant="bergen", url="http://127.0.0.1:1", offset=8)
    path = tmp_path / "state.json"
    save_state(path, state)
    loaded = load_state(path)
    assert loaded == state
    assert not list(tmp_path.glob(".*partial"))
    loaded.check_belongs(identity, "bergen", "http://127.0.0.1:1")
    with pytest.raises(StateMismatchError, match="tenant bergen, not oslo"):
        loaded.check_belongs(identity, "oslo", "http://127.0.0.1:1")
    with pytest.raises(StateMismatchError, match="URL"):
        loaded.check_belongs(identity, "bergen", "http://127.0.0.1:2")
    events.write_bytes(b'{"a":2}\n')  # same size, other content
    with pytest.raises(StateMismatchError, match="the file changed"):
        loaded.check_belongs(FileIdentity.of(events), "bergen", "http://127.0.0.1:1")


def test_no_state_file_is_a_fresh_start_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    assert load_state(tmp_path / "absent.json") is None
    broken = tmp_path / "broken.json"
    broken.write_text('{"offset": "soon"}')
    with pytest.raises(StateMismatchError, match="not a backfill state file"):
        load_state(broken)


def batch(number: int, first_line: int, count: int) -> Batch:
    numbers = tuple(range(first_line, first_line + count))
    return Batch(number, numbers[-1] * 10, numbers[-1], tuple(b"{}" for _ in numbers), numbers)


def outcome(count: int, refused_lines: tuple[int, ...] = ()) -> BatchOutcome:
    refusals = tuple(
        Refusal(line, None, 422, ({"field": "kind", "reason": "Field required"},))
        for line in refused_lines
    )
    return BatchOutcome(count, count - len(refusals), 0, refusals)


def test_the_state_moves_only_past_batches_acknowledged_in_order(tmp_path: Path) -> None:
    events = lines_file(tmp_path, b"{}\n" * 9)
    state = BackfillState(file=FileIdentity.of(events), tenant="bergen", url="http://x")
    state_path, refused_path = tmp_path / "state.json", tmp_path / "refused.ndjson"
    journal = Journal(state, state_path, refused_path)
    journal.acknowledge(batch(1, 4, 3), outcome(3, (5,)))
    assert not state_path.exists()  # batch 0 is still out
    journal.acknowledge(batch(2, 7, 3), outcome(3))
    journal.acknowledge(batch(0, 1, 3), outcome(3, (2,)))
    saved = load_state(state_path)
    assert saved is not None
    assert (saved.offset, saved.line, saved.sent, saved.accepted) == (90, 9, 9, 7)
    assert saved.refused_by_field == {"kind": 2}
    journal.close()
    refused = [json.loads(line) for line in refused_path.read_text().splitlines()]
    assert [r["line"] for r in refused] == [2, 5]  # in file order
    assert saved.refused_bytes == refused_path.stat().st_size


def test_a_resumed_journal_cuts_off_refusals_beyond_its_state(tmp_path: Path) -> None:
    events = lines_file(tmp_path, b"{}\n")
    refused_path = tmp_path / "refused.ndjson"
    refused_path.write_bytes(b'{"line": 1}\n{"line": 7}\n')
    state = BackfillState(
        file=FileIdentity.of(events), tenant="t", url="http://x", refused_bytes=12
    )
    Journal(state, tmp_path / "state.json", refused_path).close()
    assert refused_path.read_bytes() == b'{"line": 1}\n'


def answer(*results: dict[str, object]) -> bytes:
    return json.dumps({"accepted": 0, "rejected": 0, "results": list(results)}).encode()


def test_answers_count_repeats_and_keep_reasons_without_values() -> None:
    sent = batch(0, 10, 4)
    event_id = "3b0f8c9e-5a61-4c1e-9d2a-0c7e8f1a2b01"
    read = read_answer(
        sent,
        answer(
            {"index": 0, "event_id": event_id, "status_code": 202, "status": "received"},
            {"index": 1, "event_id": event_id, "status_code": 202, "status": "x", "repeat": True},
            {
                "index": 2,
                "event_id": "not-a-uuid",
                "status_code": 422,
                "status": "invalid",
                "errors": [
                    {"reason": "the event is not valid"},
                    {"field": "person.national_id", "reason": "checked 14834812410 <- leaked"},
                    {"field": "12345678901", "reason": "a field named like a value"},
                ],
            },
            {"index": 3, "event_id": event_id, "status_code": 409, "status": "conflict"},
        ),
    )
    assert (read.sent, read.accepted, read.repeated) == (4, 2, 1)
    invalid, conflict = read.refusals
    assert (conflict.line, conflict.event_id, conflict.status_code) == (13, event_id, 409)
    assert invalid.line == 12
    assert invalid.event_id is None
    assert invalid.reasons == (
        {"reason": "the event is not valid"},
        {"field": "person.national_id", "reason": "checked <digits> <- leaked"},
        {"reason": "a field named like a value"},
    )
    assert b"14834812410" not in invalid.to_json_line()
    assert read.refused_fields() == Counter({"person.national_id": 1, "(conflict)": 1})


def test_an_answer_that_does_not_cover_the_batch_stops_the_run() -> None:
    with pytest.raises(BackfillStoppedError, match="1 results for 2 events"):
        read_answer(batch(0, 1, 2), answer({"index": 0, "status_code": 202}))
    with pytest.raises(BackfillStoppedError, match="not a batch result"):
        read_answer(batch(0, 1, 2), b"<html>")
