"""Synthetic identifiers for tests: national ids and organisation numbers with valid check digits.

National ids follow Skatteetaten's synthetic scheme (month + 80, as issued by Tenor), so they
pass the mod-11 check yet can never belong to a real person. D-numbers add 40 to the day.
"""

from __future__ import annotations

_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ORG_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


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
    return (
        len(national_id) == 11
        and national_id.isdigit()
        and national_id_with_check_digits(national_id[:9]) == national_id
    )


def synthetic_national_id(
    day: int, month: int, year: int, individual: int = 0, *, d_number: bool = False
) -> str:
    """The first synthetic id at or after ``individual`` that has valid check digits."""
    shown_day = day + 40 if d_number else day
    for number in range(individual, 1000):
        candidate = national_id_with_check_digits(
            f"{shown_day:02d}{month + 80:02d}{year % 100:02d}{number:03d}"
        )
        if candidate is not None:
            return candidate
    raise ValueError("no individual number gives valid check digits")


def org_number_with_check_digit(first_eight: str) -> str | None:
    check = _mod11_digit(first_eight, _ORG_WEIGHTS)
    return None if check is None else f"{first_eight}{check}"
