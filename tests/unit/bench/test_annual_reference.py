"""The annual figure's reference (``python -m bench.annual reference``, as the benchmark runs
it): both files validated and zipped, and a schema error is not timed as a success."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kpr_gateway.annual.synthetic import write_extract

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    files = write_extract(
        tmp_path / "iplos.xml",
        tmp_path / "ident.xml",
        municipality_number="4601",
        year=2025,
        persons=30,
        seed=1,
    )
    return files.iplos, files.ident


def _reference(iplos: Path, ident: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "bench.annual", "reference"),
            *("--iplos", str(iplos), "--ident", str(ident), "--out", str(out)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_reference_validates_and_zips_both_files(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "reference.json"
    finished = _reference(*pair, out)
    assert finished.returncode == 0, finished.stderr[-2000:]
    result = json.loads(out.read_text())
    assert (result["persons"], result["identities"]) == (30, 30)
    assert result["seconds"] >= result["validate_seconds"] >= 0
    for name, path in zip(("iplos", "ident"), pair, strict=True):
        zipped = path.with_suffix(".zip")
        with zipfile.ZipFile(zipped) as archive:
            (entry,) = archive.infolist()
            assert entry.compress_type == zipfile.ZIP_DEFLATED
            assert archive.read(entry) == path.read_bytes()
        assert result["zip_bytes"][name] == zipped.stat().st_size


def test_a_schema_error_fails_the_reference(pair: tuple[Path, Path], tmp_path: Path) -> None:
    iplos, ident = pair
    broken = tmp_path / "broken.xml"
    broken.write_text(
        iplos.read_text(encoding="utf-8").replace("<PERSON ", "<PERSONX ", 1), encoding="utf-8"
    )
    finished = _reference(broken, ident, tmp_path / "reference.json")
    assert finished.returncode != 0
    assert "XMLSyntaxError" in finished.stderr
    assert not (tmp_path / "reference.json").exists()
