"""The environment an annual submission names: which a tenant may name (its own, or KPR
Validering for a test submission), how the form field is checked, how the messages carry it
between the services, and how ``kprgw annual submit`` passes it."""

from __future__ import annotations

import typing
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kpr_gateway.cli import annual_submit
from kpr_gateway.intake.annual_api import read_form
from kpr_gateway.intake.errors import InvalidSubmissionError
from kpr_gateway.pipeline.contracts import BuiltMessage, ReceiverEnvironment, SealedMessage
from kpr_gateway.pipeline.errors import PermanentError
from kpr_gateway.tenancy import (
    EnvironmentNotAllowedError,
    TargetEnvironment,
    Tenant,
    addressable_environments,
    kpr_receiver_her_id,
    message_environment,
)
from tests.unit.rules.support import tenant_data

PRODUCTION, VALIDATION, COMMUNICATION_TEST = (
    TargetEnvironment.PRODUCTION,
    TargetEnvironment.VALIDATION,
    TargetEnvironment.COMMUNICATION_TEST,
)
TODAY = date(2026, 1, 10)


def tenant_in(environment: TargetEnvironment, tmp_path: Path) -> Tenant:
    data = tenant_data()
    data["environment"] = environment.value
    data["pseudonym_secret_file"] = str(tmp_path / "secret.key")
    return Tenant.model_validate(data)


def test_the_contract_s_environments_are_the_tenants_environments() -> None:
    assert set(typing.get_args(ReceiverEnvironment)) == {e.value for e in TargetEnvironment}


@pytest.mark.parametrize(
    ("own", "addressable"),
    [
        (PRODUCTION, (PRODUCTION, VALIDATION)),
        (VALIDATION, (VALIDATION,)),
        (COMMUNICATION_TEST, (COMMUNICATION_TEST, VALIDATION)),
    ],
)
def test_a_tenant_may_address_its_own_environment_and_kpr_validering(
    own: TargetEnvironment, addressable: tuple[TargetEnvironment, ...], tmp_path: Path
) -> None:
    tenant = tenant_in(own, tmp_path)
    assert addressable_environments(tenant) == addressable
    assert message_environment(tenant, None) is own
    for environment in addressable:
        assert message_environment(tenant, environment.value) is environment


@pytest.mark.parametrize(
    ("own", "named"),
    [
        (VALIDATION, "production"),  # a test tenant never reaches production
        (PRODUCTION, "communication-test"),
        (PRODUCTION, "moon"),
        (PRODUCTION, ""),
    ],
)
def test_any_other_environment_is_refused(
    own: TargetEnvironment, named: str, tmp_path: Path
) -> None:
    with pytest.raises(EnvironmentNotAllowedError, match="tenant bergen: a message names"):
        message_environment(tenant_in(own, tmp_path), named)


def test_kpr_validering_is_171479() -> None:
    assert kpr_receiver_her_id(VALIDATION) == "171479"
    assert kpr_receiver_her_id(PRODUCTION) == "122612"


@pytest.mark.parametrize(
    ("own", "field", "expected"),
    [
        (PRODUCTION, None, PRODUCTION),
        (PRODUCTION, "validation", VALIDATION),
        (PRODUCTION, " validation ", VALIDATION),
        (PRODUCTION, "production", PRODUCTION),
        (VALIDATION, None, VALIDATION),
        (VALIDATION, "validation", VALIDATION),
    ],
)
def test_the_form_s_environment(
    own: TargetEnvironment, field: str | None, expected: TargetEnvironment, tmp_path: Path
) -> None:
    fields = {} if field is None else {"environment": field}
    form = read_form(fields, tenant_in(own, tmp_path), TODAY)
    assert form.environment is expected


@pytest.mark.parametrize(
    ("own", "field", "reason"),
    [
        (
            PRODUCTION,
            "communication-test",
            "production (the tenant's own) or validation (a test submission to KPR Validering)",
        ),
        (
            PRODUCTION,
            "PRODUCTION 01017012345",
            "production (the tenant's own) or validation (a test submission to KPR Validering)",
        ),
        (VALIDATION, "production", "validation"),
    ],
)
def test_another_environment_in_the_form_is_refused_naming_the_field(
    own: TargetEnvironment, field: str, reason: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidSubmissionError) as refused:
        read_form({"environment": field}, tenant_in(own, tmp_path), TODAY)
    assert refused.value.status_code == 422
    assert refused.value.details == [{"field": "environment", "reason": reason}]
    assert "01017012345" not in str(refused.value.details)


def _built(**changes: Any) -> BuiltMessage:
    submission_id = uuid.uuid4()
    return BuiltMessage(
        tenant_id="bergen",
        msg_id=uuid.uuid4(),
        msg_type="KPR_IPL",
        batch_id=submission_id,
        submission_id=submission_id,
        document=b"<MsgHead/>",
        **changes,
    )


def _sealed(**changes: Any) -> SealedMessage:
    return SealedMessage(
        tenant_id="bergen",
        msg_id=uuid.uuid4(),
        msg_type="KPR_IPL",
        batch_id=uuid.uuid4(),
        from_her_id="50002",
        to_her_id="171479",
        cms=b"cms",
        **changes,
    )


@pytest.mark.parametrize("make", [_built, _sealed])
def test_messages_carry_the_environment_they_name_and_no_key_when_they_name_none(
    make: Any,
) -> None:
    named = make(environment="validation")
    assert b'"environment":"validation"' in named.to_body()
    assert type(named).from_body(named.to_body()) == named
    unnamed = make()
    assert b"environment" not in unnamed.to_body()  # a daily body is as it was before
    assert type(unnamed).from_body(unnamed.to_body()).environment is None


@pytest.mark.parametrize("make", [_built, _sealed])
def test_an_unknown_environment_in_a_body_is_permanent_and_not_echoed(make: Any) -> None:
    body = make(environment="validation").to_body().replace(b"validation", b"01017012345")
    with pytest.raises(PermanentError) as refused:
        type(make()).from_body(body)
    assert "environment (literal_error)" in refused.value.reason
    assert "01017012345" not in refused.value.reason


def test_kprgw_annual_submit_sends_the_environment_field(tmp_path: Path) -> None:
    iplos, ident = tmp_path / "iplos.xml", tmp_path / "ident.xml"
    iplos.write_bytes(b"<IPLOS/>")
    ident.write_bytes(b"<Ident/>")
    body = annual_submit.upload_body(
        iplos=iplos, ident=ident, year=2025, environment="validation", replace=False, reason=None
    )
    streamed = b"".join(body.stream(lambda _: None))
    assert len(streamed) == body.length
    assert b'name="environment"\r\n\r\nvalidation\r\n' in streamed
    without = annual_submit.upload_body(
        iplos=iplos, ident=ident, year=2025, environment=None, replace=False, reason=None
    )
    assert b'name="environment"' not in b"".join(without.stream(lambda _: None))
