"""Crash points: armed only from the environment at start, refused in production mode and
for names that are not points of the service, and then an immediate exit at the n-th pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpr_gateway.runtime import crash_points
from kpr_gateway.runtime.crash_points import (
    AFTER_VARIABLE,
    CRASH_EXIT_CODE,
    KNOWN_POINTS,
    POINT_VARIABLE,
    CrashPointError,
    arm_from_environment,
    armed_point,
    crash_point,
)
from tests.conftest import REPO_ROOT

_CALL = re.compile(r"""crash_point\("([a-z_.]+)"\)""")


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    crash_points.disarm()
    yield
    crash_points.disarm()


def test_without_the_variable_nothing_is_armed_and_a_pass_does_nothing() -> None:
    assert arm_from_environment("dispatch", production=True, environ={}) is None
    assert armed_point() is None
    crash_point("dispatch.after_send")  # still here


def test_an_armed_point_of_the_service_is_armed_in_development_mode() -> None:
    environ = {POINT_VARIABLE: "dispatch.after_send", AFTER_VARIABLE: "3"}
    assert arm_from_environment("dispatch", production=False, environ=environ) == (
        "dispatch.after_send"
    )
    assert armed_point() == "dispatch.after_send"
    crash_point("dispatch.after_attempt")  # another point: never this one's pass
    crash_point("dispatch.after_send")
    crash_point("dispatch.after_send")  # passes 1 and 2 of 3: still here


@pytest.mark.parametrize(
    ("environ", "production", "says"),
    [
        ({POINT_VARIABLE: "dispatch.after_send"}, True, "refused in production mode"),
        ({POINT_VARIABLE: "dispatch.after_sned"}, False, "is not a crash point; known:"),
        ({POINT_VARIABLE: "transform.after_commit"}, False, "is not a point of dispatch"),
        ({POINT_VARIABLE: "dispatch.after_send", AFTER_VARIABLE: "0"}, False, "from 1"),
        ({POINT_VARIABLE: "dispatch.after_send", AFTER_VARIABLE: "two"}, False, "from 1"),
        ({AFTER_VARIABLE: "2"}, False, f"{POINT_VARIABLE} is not"),
    ],
)
def test_settings_that_would_never_crash_or_crash_in_production_are_refused(
    environ: dict[str, str], production: bool, says: str
) -> None:
    with pytest.raises(CrashPointError, match=re.escape(says)):
        arm_from_environment("dispatch", production=production, environ=environ)
    assert armed_point() is None


def test_every_known_point_has_exactly_one_call_site_in_the_services() -> None:
    found: dict[str, list[str]] = {}
    for path in sorted((REPO_ROOT / "services").glob("*/src/**/*.py")):
        for name in _CALL.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(path.parent.name)
    assert set(found) == KNOWN_POINTS
    for name, places in found.items():
        assert places == [name.partition(".")[0]], (name, places)


_CRASHING = """
import sys
from kpr_gateway.runtime.crash_points import arm_from_environment, crash_point
arm_from_environment("receipts", production=False)
try:
    for n in range(1, 6):
        print(f"pass {n}", flush=True)
        crash_point("receipts.after_ledger")
finally:
    print("finally ran", flush=True)
"""


def _run(code: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPRGW_CRASH_POINT")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env | environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_process_ends_at_once_on_the_chosen_pass_with_the_crash_code() -> None:
    ended = _run(_CRASHING, {POINT_VARIABLE: "receipts.after_ledger", AFTER_VARIABLE: "3"})
    assert ended.returncode == CRASH_EXIT_CODE
    assert ended.stdout.split() == ["pass", "1", "pass", "2", "pass", "3"]  # no finally
    assert "crash point receipts.after_ledger reached (pass 3)" in ended.stderr


def test_a_service_in_production_mode_refuses_to_start_with_a_crash_point(
    tmp_path: Path,
) -> None:
    started = _run(
        "from kpr_gateway.envelope.__main__ import main; main()",
        {
            POINT_VARIABLE: "envelope.after_mark",
            "KPRGW_ENVELOPE_TENANTS_FILE": str(tmp_path / "tenants.yaml"),
            "KPRGW_ENVELOPE_MODE": "production",
            "KPRGW_ENVELOPE_LOG_JSON": "false",
        },
    )
    assert started.returncode == 2
    assert "envelope: KPRGW_CRASH_POINT is set" in started.stderr
    assert "refused in production mode" in started.stderr
