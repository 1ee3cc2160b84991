"""``kprgw pki`` and ``kprgw cms`` through typer's test runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from kpr_gateway.cli import cms, pki
from kpr_gateway.security.devpki import DevPki

CONTENT = b"<KPR>\nlinje \xe6\xf8\xe5 (latin-1, not UTF-8)\n</KPR>\n"

# A stand-in for kprgw's main app with just the two sub-apps under test.
app = typer.Typer()
app.add_typer(pki.app, name="pki")
app.add_typer(cms.app, name="cms")


@pytest.fixture(scope="module")
def pki_dir(dev_pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli-pki")
    dev_pki.write(directory)
    return directory


def _assert_one_line_failure(result: Result, reason: str) -> None:
    assert result.exit_code == 1
    stderr = result.stderr
    assert stderr.count("\n") == 1
    assert stderr.startswith("error: ")
    assert reason in stderr
    assert "Traceback" not in stderr


def _seal_args(pki_dir: Path, sender: str = "kommune") -> list[str]:
    return [
        "cms",
        "seal",
        "--sign-cert",
        str(pki_dir / f"{sender}-sign.pem"),
        "--sign-key",
        str(pki_dir / f"{sender}-sign.key"),
        "--recipient-cert",
        str(pki_dir / "fhi-enc.pem"),
    ]


def _open_args(pki_dir: Path, own: str = "fhi") -> list[str]:
    return [
        "cms",
        "open",
        "--cert",
        str(pki_dir / f"{own}-enc.pem"),
        "--key",
        str(pki_dir / f"{own}-enc.key"),
        "--signer-cert",
        str(pki_dir / "kommune-sign.pem"),
    ]


def test_pki_dev_writes_the_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "pki",
            "dev",
            "--out",
            str(tmp_path),
            "--party",
            "kommune:123456785",
            "--party",
            "fhi:983744516",
        ],
    )
    assert result.exit_code == 0, result.stderr
    names = {path.name for path in tmp_path.iterdir()}
    assert names == {
        "ca.pem",
        "kommune-sign.pem",
        "kommune-sign.key",
        "kommune-enc.pem",
        "kommune-enc.key",
        "fhi-sign.pem",
        "fhi-sign.key",
        "fhi-enc.pem",
        "fhi-enc.key",
    }
    assert sorted(result.stdout.split()) == sorted(str(tmp_path / name) for name in names)


@pytest.mark.parametrize(
    ("party", "reason"),
    [
        ("kommune", "expected NAME:ORGNR"),
        ("kom mune:123456785", "name must be"),
        ("k:1", "9 digits"),
    ],
)
def test_pki_dev_refuses_bad_parties(tmp_path: Path, party: str, reason: str) -> None:
    result = CliRunner().invoke(app, ["pki", "dev", "--out", str(tmp_path), "--party", party])
    _assert_one_line_failure(result, reason)
    assert not any(tmp_path.iterdir())


def test_seal_stdin_to_stdout_then_open_files(pki_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    sealed = runner.invoke(app, _seal_args(pki_dir), input=CONTENT)
    assert sealed.exit_code == 0, sealed.stderr
    assert sealed.stdout_bytes.startswith(b"\x30\x82")  # DER SEQUENCE
    (tmp_path / "msg.der").write_bytes(sealed.stdout_bytes)
    opened = runner.invoke(
        app,
        [*_open_args(pki_dir), "--in", str(tmp_path / "msg.der"), "--out", str(tmp_path / "out")],
    )
    assert opened.exit_code == 0, opened.stderr
    assert (tmp_path / "out").read_bytes() == CONTENT
    assert opened.stdout_bytes == b""


def test_open_with_previous_key(pki_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "in").write_bytes(CONTENT)
    sealed = runner.invoke(app, [*_seal_args(pki_dir), "--in", str(tmp_path / "in")])
    assert sealed.exit_code == 0, sealed.stderr
    rotated = [
        *_open_args(pki_dir, own="fhi-next"),
        "--previous-cert",
        str(pki_dir / "fhi-enc.pem"),
        "--previous-key",
        str(pki_dir / "fhi-enc.key"),
    ]
    opened = runner.invoke(app, rotated, input=sealed.stdout_bytes)
    assert opened.exit_code == 0, opened.stderr
    assert opened.stdout_bytes == CONTENT


def test_open_refusals_are_one_line(pki_dir: Path) -> None:
    runner = CliRunner()
    sealed = runner.invoke(app, _seal_args(pki_dir), input=CONTENT).stdout_bytes
    wrong_key = runner.invoke(app, _open_args(pki_dir, own="intruder"), input=sealed)
    _assert_one_line_failure(wrong_key, "WrongRecipientError")
    assert wrong_key.stdout_bytes == b""

    wrong_signer = runner.invoke(app, _seal_args(pki_dir, sender="intruder"), input=CONTENT)
    refused = runner.invoke(app, _open_args(pki_dir), input=wrong_signer.stdout_bytes)
    _assert_one_line_failure(refused, "UnexpectedSignerError")

    garbage = runner.invoke(app, _open_args(pki_dir), input=b"not cms at all")
    _assert_one_line_failure(garbage, "NotCmsError")


def test_missing_and_mismatched_files_are_one_line(pki_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = [*_seal_args(pki_dir)[:-1], str(tmp_path / "absent.pem")]
    _assert_one_line_failure(runner.invoke(app, missing, input=CONTENT), "cannot read certificate")

    absent_input = [*_seal_args(pki_dir), "--in", str(tmp_path / "absent.xml")]
    _assert_one_line_failure(runner.invoke(app, absent_input), "No such file")

    mismatched = _seal_args(pki_dir)
    mismatched[5] = str(pki_dir / "fhi-sign.key")
    _assert_one_line_failure(runner.invoke(app, mismatched, input=CONTENT), "does not belong")

    unfit = _seal_args(pki_dir)
    unfit[3], unfit[5] = str(pki_dir / "kommune-enc.pem"), str(pki_dir / "kommune-enc.key")
    _assert_one_line_failure(runner.invoke(app, unfit, input=CONTENT), "WrongKeyUsageError")

    half = [*_open_args(pki_dir), "--previous-cert", str(pki_dir / "fhi-enc.pem")]
    _assert_one_line_failure(runner.invoke(app, half, input=b""), "go together")
