"""Synthetic identifiers for tests: every id type of kodeverk 9032 the gateway sends, with
valid check digits where the type has them, none of them a real person's.

Fødselsnumre follow Skatteetaten's synthetic scheme (month + 80, as Tenor issues them), so
they pass the mod-11 check yet can never belong to a real person. D-numbers add 40 to the day
as well, H-numbers add 40 to the month (so they are not synthetic in Tenor's sense, but
H-numbers are short-lived emergency numbers). DUF-numbers are the year, six digits and two
check digits: the weighted sum of the serial and then the year, modulo 11, as public
descriptions of the number have it.
"""

from __future__ import annotations

_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ORG_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
_DUF_WEIGHTS = (4, 6, 3, 2, 7, 5, 4, 6, 3, 2)


def _mod11_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    """The mod-11 check digit, or None where the number has no valid check digit (remainder 1)."""
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check


def national_id_with_check_digits(first_nine: str) -> str | None:
    """Append the two check digits to nine digits, or None if no valid id has this prefix."""
    k1 = _mod11_digit(first_nine, _K1_WEIGHTS)
    if k1 is None:
        return None
    k2 = _mod11_digit(first_nine + str(k1), _K2_WEIGHTS)
    return None if k2 is None else f"{first_nine}{k1}{k2}"


def has_valid_check_digits(national_id: str) -> bool:
    """Fødselsnummer, D- and H-nummer: 11 digits whose last two are the mod-11 check digits."""
    return (
        len(national_id) == 11
        and national_id.isascii()
        and national_id.isdigit()
        and national_id_with_check_digits(national_id[:9]) == national_id
    )


def synthetic_national_id(
    day: int,
    month: int,
    year: int,
    individual: int = 0,
    *,
    d_number: bool = False,
    h_number: bool = False,
) -> str:
    """The first id at or after ``individual`` that has valid check digits.

    A fødselsnummer or D-number (``d_number``: day + 40) with month + 80, or an H-number
    (``h_number``: month + 40).
    """
    shown_day = day + 40 if d_number else day
    shown_month = month + 40 if h_number else month + 80
    for number in range(individual, 1000):
        candidate = national_id_with_check_digits(
            f"{shown_day:02d}{shown_month:02d}{year % 100:02d}{number:03d}"
        )
        if candidate is not None:
            return candidate
    raise ValueError("no individual number gives valid check digits")


def duf_check_digits(first_ten: str) -> str:
    """The two check digits of a DUF-number whose first ten digits are the year and serial."""
    reordered = first_ten[4:] + first_ten[:4]
    return f"{sum(int(d) * w for d, w in zip(reordered, _DUF_WEIGHTS, strict=True)) % 11:02d}"


def synthetic_duf_number(year: int, serial: int) -> str:
    first_ten = f"{year:04d}{serial:06d}"
    return first_ten + duf_check_digits(first_ten)


def has_valid_duf_check_digits(duf_number: str) -> bool:
    return (
        len(duf_number) == 12
        and duf_number.isascii()
        and duf_number.isdigit()
        and duf_check_digits(duf_number[:10]) == duf_number[10:]
    )


def org_number_with_check_digit(first_eight: str) -> str | None:
    check = _mod11_digit(first_eight, _ORG_WEIGHTS)
    return None if check is None else f"{first_eight}{check}"
