"""Settings, the parties file and FHI's credentials: checked at start, with clear reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import (
    DEFAULT_RECEIVER_QUEUES,
    KeyFiles,
    SimulatorConfigError,
    SimulatorSettings,
    build_simulator,
    load_parties,
    load_receiver_credentials,
    senders_from_tenants,
)
from kpr_gateway.tenancy import TenantsFile
from tests.unit.simulator.support import (
    KPR_QUEUE,
    SENDER_ASYNC,
    SENDER_HER_ID,
    Party,
    kpr_ipl,
    nhn_message,
    sealed,
)

SETTINGS_ENV = "KPRGW_SIMULATOR_"


def write_parties(directory: Path, pki_dir: Path, *senders: dict[str, Any]) -> Path:
    entries = list(senders) or [
        {
            "her_id": SENDER_HER_ID,
            "signing_certificate": str(pki_dir / "kommune-sign.pem"),
            "encryption_certificate": str(pki_dir / "kommune-enc.pem"),
        }
    ]
    path = directory / "parties.yaml"
    path.write_text(yaml.safe_dump({"senders": entries}), encoding="utf-8")
    return path


def fhi_settings(pki_dir: Path, parties: Path, **overrides: Any) -> SimulatorSettings:
    values: dict[str, Any] = {
        "signing_certificate": pki_dir / "fhi-sign.pem",
        "signing_key": pki_dir / "fhi-sign.key",
        "encryption_certificate": pki_dir / "fhi-enc.pem",
        "encryption_key": pki_dir / "fhi-enc.key",
        "parties_file": parties,
    }
    values.update(overrides)
    return SimulatorSettings(**values)


def test_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, pki_dir: Path, tmp_path: Path
) -> None:
    for name, value in {
        "SIGNING_CERTIFICATE": pki_dir / "fhi-sign.pem",
        "SIGNING_KEY": pki_dir / "fhi-sign.key",
        "ENCRYPTION_CERTIFICATE": pki_dir / "fhi-enc.pem",
        "ENCRYPTION_KEY": pki_dir / "fhi-enc.key",
        "PARTIES_FILE": tmp_path / "parties.yaml",
        "RECEIVER_QUEUES": "171479_async, 8133973_async",
        "REJECT_SHARE": "0.25",
        "SEED": "42",
        "APPREC_VERSION": "1.1",
        "GAP_GRACE_SECONDS": "2.5",
        "READERS": "3",
    }.items():
        monkeypatch.setenv(SETTINGS_ENV + name, str(value))
    monkeypatch.setenv("KPRGW_STANDARDS_DIR", str(tmp_path / "standards"))

    settings = SimulatorSettings()  # the required values come from the environment

    assert settings.receiver_queues == ["171479_async", "8133973_async"]
    assert (settings.reject_share, settings.seed, settings.apprec_version) == (0.25, 42, "1.1")
    assert settings.standards_dir == tmp_path / "standards"
    assert (settings.gap_grace_seconds, settings.readers) == (2.5, 3)


def test_default_queues_are_the_kpr_parties(
    pki_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KPRGW_STANDARDS_DIR", raising=False)  # CI sets it
    settings = fhi_settings(pki_dir, tmp_path / "parties.yaml")
    assert settings.receiver_queues == list(DEFAULT_RECEIVER_QUEUES)
    assert DEFAULT_RECEIVER_QUEUES == ("122612_async", "171479_async", "8133973_async")
    assert settings.standards_dir is None
    assert settings.apprec_version == "1.0"
    assert (settings.gap_grace_seconds, settings.readers) == (30.0, 2)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"reject_share": 0.7, "no_answer_share": 0.4}, "more than 1"),
        ({"transport_error_share": 2}, "transport_error_share"),
        ({"receiver_queues": " , "}, "receiver_queues"),
        ({"apprec_version": "1.2"}, "apprec_version"),
        ({"previous_encryption_certificate": "old.pem"}, "go together"),
        ({"gap_grace_seconds": 0}, "gap_grace_seconds"),
        ({"readers": 0}, "readers"),
    ],
)
def test_impossible_settings_are_refused(
    pki_dir: Path, tmp_path: Path, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        fhi_settings(pki_dir, tmp_path / "parties.yaml", **overrides)


async def test_built_from_settings_the_simulator_answers(
    pki_dir: Path, tmp_path: Path, party: Party, broker: InMemoryNhnBroker
) -> None:
    settings = fhi_settings(
        pki_dir, write_parties(tmp_path, pki_dir), receiver_queues=[KPR_QUEUE], seed=1
    )
    simulator = build_simulator(settings, InMemoryNhnTransport(broker))
    simulator.register()
    await simulator.start()
    try:
        await party.send(nhn_message(sealed(party.pki, kpr_ipl())))
        apprec = party.open_apprec(await party.next_on(SENDER_ASYNC))
    finally:
        await simulator.stop()
    assert apprec.status.code == 1
    assert simulator.queues == (KPR_QUEUE,)


def test_parties_with_relative_paths_and_default_queues(pki_dir: Path) -> None:
    path = write_parties(
        pki_dir,
        pki_dir,
        {
            "her_id": "90002",
            "signing_certificate": "kommune-sign.pem",
            "encryption_certificate": "kommune-enc.pem",
        },
        {
            "her_id": "80002",
            "signing_certificate": "intruder-sign.pem",
            "encryption_certificate": "intruder-enc.pem",
            "async_queue": "80001_async",
            "error_queue": "80001_error",
            "municipality_number": "4601",
        },
    )
    first, second = load_parties(path)
    assert (first.her_id, first.async_queue, first.error_queue) == (
        "90002",
        "90002_async",
        "90002_error",
    )
    assert first.municipality_number is None  # any one Kommune is taken
    assert (second.async_queue, second.error_queue) == ("80001_async", "80001_error")
    assert second.municipality_number == "4601"


@pytest.mark.parametrize(
    ("senders", "reason"),
    [
        # an encryption certificate given for signing: wrong key usage
        (
            [{"her_id": "90002", "signing_certificate": "kommune-enc.pem",
              "encryption_certificate": "kommune-enc.pem"}],
            "sender 90002: signing_certificate: .*nonRepudiation",
        ),
        (
            [{"her_id": "90002", "signing_certificate": "kommune-sign.pem",
              "encryption_certificate": "kommune-sign.pem"}],
            "sender 90002: encryption_certificate: .*keyEncipherment",
        ),
        (
            [{"her_id": "90002", "signing_certificate": "missing.pem",
              "encryption_certificate": "kommune-enc.pem"}],
            "cannot read certificate file",
        ),
        (
            [{"her_id": "90002", "signing_certificate": "kommune-sign.pem",
              "encryption_certificate": "kommune-enc.pem"}] * 2,
            "duplicate sender HER-id 90002",
        ),
        (
            [{"her_id": "090002", "signing_certificate": "kommune-sign.pem",
              "encryption_certificate": "kommune-enc.pem"}],
            "senders.0.her_id",
        ),
        (
            [{"her_id": "90002", "signing_certificate": "kommune-sign.pem",
              "encryption_certificate": "kommune-enc.pem", "colour": "blue"}],
            "colour",
        ),
        (
            [{"her_id": "90002", "signing_certificate": "kommune-sign.pem",
              "encryption_certificate": "kommune-enc.pem", "municipality_number": "301"}],
            "senders.0.municipality_number",
        ),
    ],
)  # fmt: skip
def test_bad_parties_are_refused_with_the_reason(
    pki_dir: Path, tmp_path: Path, senders: list[dict[str, Any]], reason: str
) -> None:
    for entry in senders:
        for key in ("signing_certificate", "encryption_certificate"):
            entry[key] = str(pki_dir / entry[key])
    with pytest.raises(SimulatorConfigError, match=reason):
        load_parties(write_parties(tmp_path, pki_dir, *senders))


@pytest.mark.parametrize(("content", "reason"), [(None, "cannot be read"), ("a: [", "YAML")])
def test_unreadable_parties_file(tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "parties.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SimulatorConfigError, match=reason):
        load_parties(path)


def test_fhi_credentials_are_checked_for_their_use(pki_dir: Path) -> None:
    sign = KeyFiles(pki_dir / "fhi-sign.pem", pki_dir / "fhi-sign.key")
    enc = KeyFiles(pki_dir / "fhi-enc.pem", pki_dir / "fhi-enc.key")
    credentials = load_receiver_credentials(sign, [enc])
    assert len(credentials.decryption) == 1
    with pytest.raises(SimulatorConfigError, match=r"FHI signing credential: .*nonRepudiation"):
        load_receiver_credentials(enc, [enc])
    with pytest.raises(SimulatorConfigError, match=r"FHI encryption credential: .*keyEnciph"):
        load_receiver_credentials(sign, [sign])
    with pytest.raises(SimulatorConfigError, match="does not belong"):
        load_receiver_credentials(KeyFiles(sign.certificate, enc.key), [enc])
    with pytest.raises(SimulatorConfigError, match="at least one decryption key"):
        load_receiver_credentials(sign, [])


async def test_a_previous_encryption_key_still_opens_messages(
    pki_dir: Path, tmp_path: Path, party: Party, broker: InMemoryNhnBroker
) -> None:
    """During a rotation, messages encrypted for the previous certificate are still read."""
    settings = fhi_settings(
        pki_dir,
        write_parties(tmp_path, pki_dir),
        receiver_queues=[KPR_QUEUE],
        previous_encryption_certificate=pki_dir / "intruder-enc.pem",
        previous_encryption_key=pki_dir / "intruder-enc.key",
    )
    simulator = build_simulator(settings, InMemoryNhnTransport(broker))
    simulator.register()
    await simulator.start()
    try:
        body = sealed(party.pki, kpr_ipl(), recipient="intruder")
        await party.send(nhn_message(body))
        apprec = party.open_apprec(await party.next_on(SENDER_ASYNC))
    finally:
        await simulator.stop()
    assert apprec.status.code == 1


def test_unreadable_key_password_file(pki_dir: Path, tmp_path: Path) -> None:
    settings = fhi_settings(
        pki_dir, write_parties(tmp_path, pki_dir), key_password_file=tmp_path / "missing"
    )
    with pytest.raises(SimulatorConfigError, match="key_password_file"):
        build_simulator(settings, InMemoryNhnTransport(InMemoryNhnBroker()))


def test_standards_dir_without_the_xsds(pki_dir: Path, tmp_path: Path) -> None:
    settings = fhi_settings(
        pki_dir, write_parties(tmp_path, pki_dir), standards_dir=tmp_path / "nothing"
    )
    with pytest.raises(SimulatorConfigError, match="standards directory"):
        build_simulator(settings, InMemoryNhnTransport(InMemoryNhnBroker()))


def _tenants(pki_dir: Path, tmp_path: Path, *, certificates: bool = True) -> TenantsFile:
    secret = tmp_path / "oslo.key"
    secret.write_bytes(b"0123456789abcdef0123456789abcdef-dev")
    tenant: dict[str, Any] = {
        "id": "oslo",
        "municipality_number": "0301",
        "name": "Oslo kommune",
        "org_number": "958935420",
        "her_id": "90001",
        "communication_party": {"name": "Saksbehandling", "her_id": SENDER_HER_ID},
        "environment": "validation",
        "pseudonym_secret_file": str(secret),
        "nhn": {"error_queue": "oslo_errors"},
    }
    if certificates:
        tenant["certificates"] = {
            usage: {
                "certificate": str(pki_dir / f"kommune-{suffix}.pem"),
                "key": str(pki_dir / f"kommune-{suffix}.key"),
            }
            for usage, suffix in (("signing", "sign"), ("encryption", "enc"))
        }
    return TenantsFile.model_validate({"tenants": [tenant]})


def test_the_gateways_tenants_as_senders(pki: DevPki, pki_dir: Path, tmp_path: Path) -> None:
    [sender] = senders_from_tenants(_tenants(pki_dir, tmp_path))
    kommune = pki.party("kommune")
    assert sender.her_id == SENDER_HER_ID
    assert sender.signing_certificate == kommune.signing.certificate
    assert sender.encryption_certificate == kommune.encryption.certificate
    assert (sender.async_queue, sender.error_queue) == (SENDER_ASYNC, "oslo_errors")
    assert sender.municipality_number == "0301"


def test_a_tenant_without_certificates_cannot_be_a_sender(pki_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SimulatorConfigError, match="tenant oslo: certificates"):
        senders_from_tenants(_tenants(pki_dir, tmp_path, certificates=False))
