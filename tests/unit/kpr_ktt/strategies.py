"""Hypothesis strategies for KPR KTT events and batches (valid ones only)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import assume
from hypothesis import strategies as st

from kpr_gateway.messages.kpr_ktt_v1 import SERVICE_TYPES, EventStatus, KprBatch, KttEvent
from tests.unit.kpr_ktt.synthetic import national_id_with_check_digits

MUNICIPALITY = "0301"
REPORTER_ORG = "923456783"


@st.composite
def national_ids(draw: st.DrawFn) -> str:
    day = draw(st.integers(1, 28)) + draw(st.sampled_from((0, 40)))  # D-numbers add 40
    month = draw(st.integers(1, 12)) + 80  # synthetic ids add 80 to the month
    prefix = f"{day:02d}{month:02d}{draw(st.integers(0, 99)):02d}{draw(st.integers(0, 999)):03d}"
    full = national_id_with_check_digits(prefix)
    assume(full is not None)  # about one prefix in six has no valid check digits
    assert full is not None
    return full


case_references = st.from_regex(r"[!-~](?:[ -~]{0,62}[!-~])?", fullmatch=True)
org_numbers = st.from_regex(r"[0-9]{9}", fullmatch=True)
hours = st.decimals(min_value=0, max_value=168, places=2, allow_nan=False, allow_infinity=False)
_ZONES = (UTC, timezone(timedelta(hours=1)), timezone(-timedelta(hours=5, minutes=30)))
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31))


@st.composite
def ktt_events(draw: st.DrawFn, person_ids: st.SearchStrategy[str] | None = None) -> KttEvent:
    start = draw(days)
    stop = draw(st.none() | st.integers(0, 400).map(lambda n: start + timedelta(days=n)))
    end_floor = stop or start
    end = draw(st.none() | st.integers(0, 800).map(lambda n: end_floor + timedelta(days=n)))
    return KttEvent(
        event_id=draw(st.uuids()),
        status=draw(st.sampled_from(EventStatus)),
        municipality_number=MUNICIPALITY,
        national_id=draw(national_ids() if person_ids is None else person_ids),
        service_code=draw(st.sampled_from(sorted(SERVICE_TYPES))),
        decision_date=start - timedelta(days=draw(st.integers(0, 60))),
        start_date=start,
        stop_date=stop,
        end_date=end,
        hours_per_week=draw(st.none() | hours),
        provider_org_number=draw(st.none() | org_numbers),
        case_reference=draw(st.none() | case_references),
    )


@st.composite
def batches(draw: st.DrawFn) -> KprBatch:
    # A small pool of persons so that batches often hold several events per person.
    pool = draw(st.lists(national_ids(), min_size=1, max_size=4, unique=True))
    events = draw(
        st.lists(
            ktt_events(st.sampled_from(pool)),
            min_size=1,
            max_size=8,
            unique_by=lambda event: event.event_id,
        )
    )
    created = draw(
        st.datetimes(
            min_value=datetime(2020, 1, 1),
            max_value=datetime(2099, 1, 1),
            timezones=st.sampled_from(_ZONES),
        )
    )
    return KprBatch(
        message_id=draw(st.uuids()),
        created=created,
        municipality_number=MUNICIPALITY,
        reporter_org_number=REPORTER_ORG,
        events=events,
        tenant_secret=draw(st.binary(min_size=16, max_size=64)),
    )
