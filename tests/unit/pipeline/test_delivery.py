"""Header conversion and attempt numbers."""

from __future__ import annotations

import pytest

from kpr_gateway.pipeline.delivery import application_headers, attempt_of, text_headers


def test_text_headers_keep_text_and_numbers_only() -> None:
    raw: dict[str, object] = {
        "a": "text",
        "b": 3,
        "c": b"bytes",
        "d": b"\xff",
        "e": True,
        "x-death": [{"queue": "q"}],
        "f": 1.5,
    }
    assert text_headers(raw) == {"a": "text", "b": "3", "c": "bytes", "f": "1.5"}
    assert text_headers(None) == {}


def test_application_headers_drop_bus_and_broker_headers() -> None:
    assert application_headers({"traceparent": "t", "X-Attempt": "2", "x-death": "d"}) == {
        "traceparent": "t"
    }


@pytest.mark.parametrize(
    ("headers", "attempt"),
    [({}, 1), ({"x-attempt": "4"}, 4), ({"x-attempt": "zero"}, 1), ({"x-attempt": "-2"}, 1)],
)
def test_attempt_of(headers: dict[str, str], attempt: int) -> None:
    assert attempt_of(headers) == attempt
