"""A development PKI on disk and an ``openssl`` runner: ``openssl cms`` is the test of record."""

from __future__ import annotations

import shutil

import pytest

from kpr_gateway.security.devpki import DevPki

from ._support import Openssl, PkiFiles


@pytest.fixture(scope="session")
def pki_files(tmp_path_factory: pytest.TempPathFactory) -> PkiFiles:
    # kommune sends, fhi receives, intruder is a valid certificate of someone else.
    pki = DevPki.create([("kommune", "123456785"), ("fhi", "983744516"), ("intruder", "974760673")])
    directory = tmp_path_factory.mktemp("openssl-pki")
    pki.write(directory)
    return PkiFiles(pki, directory)


@pytest.fixture(scope="session")
def openssl() -> Openssl:
    executable = shutil.which("openssl")
    if executable is None:
        pytest.fail("openssl is not installed; the CMS conformance tests need it on PATH")
    return Openssl(executable)
