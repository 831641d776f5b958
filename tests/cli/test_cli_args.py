"""Validators of command-line values: what they accept, and messages that say what would be valid."""

import argparse
from datetime import date

import pytest

from terminal.cli_args import (
    InputError,
    check_range,
    finite_float,
    fraction,
    http_url,
    iso_date,
    log_level,
    non_negative_int,
    open_fraction,
    port_number,
    positive_float,
    positive_int,
    timezone_name,
)


def _message(validator, text: str) -> str:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        validator(text)
    return str(info.value)


def test_dates_are_year_month_day():
    assert iso_date("2024-02-29") == date(2024, 2, 29)
    assert _message(iso_date, "2020-13-45") == ("2020-13-45 is not a valid date (month must be in 1..12); "
                                                "give a date as YYYY-MM-DD, e.g. 2024-01-31")
    assert "YYYY-MM-DD" in _message(iso_date, "20240131") and "YYYY-MM-DD" in _message(iso_date, "")


def test_time_zones_are_iana_names():
    assert timezone_name("America/New_York") == "America/New_York"
    assert "Mars/Olympus is not a known time zone" in _message(timezone_name, "Mars/Olympus")
    assert "did you mean Europe/London?" in _message(timezone_name, "europe/london")
    assert "not a known time zone" in _message(timezone_name, "../../etc/passwd")


@pytest.mark.parametrize("validator, good, bad, valid", [
    (positive_int, ("1", "25"), ("0", "-5", "2.5", "x"), "a whole number ≥ 1"),
    (non_negative_int, ("0", "7"), ("-1", "one"), "a whole number ≥ 0"),
    (port_number, ("0", "7497", "65535"), ("70000", "-1"), "a port from 1 to 65535, or 0 for a free port"),
    (positive_float, ("0.01", "1e6"), ("0", "-1", "nan", "inf"), "a number > 0"),
    (finite_float, ("-3.5", "0"), ("nan", "-inf", "abc"), "a finite number"),
    (fraction, ("0", "0.001"), ("1", "-0.1", "nan"), "a fraction from 0 up to (not including) 1"),
    (open_fraction, ("0.7",), ("0", "1"), "a fraction strictly between 0 and 1"),
])
def test_numbers_outside_their_range_are_refused_with_the_valid_range(validator, good, bad, valid):
    for text in good:
        validator(text)
    for text in bad:
        assert _message(validator, text).startswith(f"{text} is not valid; give {valid}")


def test_blank_values_are_quoted_so_that_they_show():
    assert _message(positive_int, " ") == "' ' is not valid; give a whole number ≥ 1"


def test_urls_and_log_levels():
    assert http_url("http://127.0.0.1:9/api/v3") == "http://127.0.0.1:9/api/v3"
    assert "http(s) URL" in _message(http_url, "data.nasdaq.com")
    assert log_level("debug") == "DEBUG"
    assert "one of DEBUG, INFO, WARNING, ERROR" in _message(log_level, "loud")


def test_a_reversed_range_is_refused_and_names_both_options():
    check_range(date(2024, 1, 1), date(2024, 1, 1))
    check_range(None, date(2024, 1, 1))
    with pytest.raises(InputError, match="--from 2024-02-01 is after --to 2024-01-01; the range is reversed"):
        check_range(date(2024, 2, 1), date(2024, 1, 1))
