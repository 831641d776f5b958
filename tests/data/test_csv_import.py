"""CSV import: every kind of bad row is reported with its line, and nothing is stored from a bad file."""

import io

import pytest

from terminal.data import CsvImportError, infer_bar_size, read_bars_csv
from terminal.domain import BarSize

GOOD = """Date,Open,High,Low,Close,Volume
2024-01-02,10,11,9,10.5,100
2024-01-03,10.5,12,10,11.5,200
2024-01-04,11.5,12,11,11.8,150
"""


def _errors(text: str) -> list[str]:
    with pytest.raises(CsvImportError) as info:
        read_bars_csv(io.StringIO(text), name="bad.csv")
    return [str(e) for e in info.value.errors] or [str(info.value)]


def test_good_file_gives_utc_bars_in_time_order():
    frame = read_bars_csv(io.StringIO(GOOD))
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert str(frame.index.tz) == "UTC" and len(frame) == 3
    assert frame["close"].tolist() == [10.5, 11.5, 11.8]


def test_bad_date_is_reported_with_its_line():
    assert _errors(GOOD + "2024-13-45,1,2,0.5,1,1\n") == ["line 5, Date: '2024-13-45' is not a date/time"]


def test_missing_columns_are_named():
    with pytest.raises(CsvImportError, match=r"missing column\(s\) high, low"):
        read_bars_csv(io.StringIO("Date,Open,Close\n2024-01-02,1,2\n"), name="x.csv")


def test_non_numeric_price_is_reported():
    assert _errors(GOOD.replace("10.5,12,10,11.5", "10.5,twelve,10,11.5")) == ["line 3, High: 'twelve' is not a number"]


def test_high_below_low_is_reported():
    assert _errors(GOOD.replace("11.5,12,11,11.8", "11.5,11,12,11.8")) == ["line 4, high/low: high 11 is below low 12"]


def test_duplicate_time_names_the_first_line():
    assert _errors(GOOD + "2024-01-03,10,11,9,10,1\n") == ["line 5, Date: 2024-01-03 repeats the time of line 3"]


def test_all_bad_rows_are_listed_at_once():
    text = GOOD + "x,1,2,0.5,1,1\n2024-01-09,1,2,0.5,abc,1\n2024-01-10,1,0.5,2,1,1\n"
    assert [e.split(",")[0] for e in _errors(text)] == ["line 5", "line 6", "line 7"]


def test_naive_times_can_be_read_in_an_exchange_time_zone():
    text = "Time,Open,High,Low,Close\n2024-01-02 09:30,1,2,0.5,1\n"
    frame = read_bars_csv(io.StringIO(text), timezone="America/New_York")
    assert frame.index[0].isoformat() == "2024-01-02T14:30:00+00:00"


def test_empty_and_unreadable_files_get_a_message(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CsvImportError, match="empty"):
        read_bars_csv(empty)
    with pytest.raises(CsvImportError, match="file not found"):
        read_bars_csv(tmp_path / "nope.csv")
    with pytest.raises(CsvImportError, match="no rows"):
        read_bars_csv(io.StringIO("Date,Open,High,Low,Close\n"), name="h.csv")


def test_real_series_from_backtesting_package_import(real_csv_dir):
    goog = read_bars_csv(real_csv_dir / "GOOG.csv")
    eurusd = read_bars_csv(real_csv_dir / "EURUSD.csv")
    assert len(goog) == 2148 and infer_bar_size(goog) is BarSize.DAY_1
    assert len(eurusd) == 5000 and infer_bar_size(eurusd) is BarSize.HOUR_1


def test_times_whose_utc_offset_changes_at_dst_are_converted_to_utc():
    text = "Time,Open,High,Low,Close\n2024-03-08 09:30:00-0500,1,2,0.5,1\n2024-03-11 09:30:00-0400,1,2,0.5,1\n"
    frame = read_bars_csv(io.StringIO(text), timezone="Asia/Tokyo")  # the offsets win over the time zone
    assert [t.isoformat() for t in frame.index] == ["2024-03-08T14:30:00+00:00", "2024-03-11T13:30:00+00:00"]


def test_times_from_several_offsets_and_z_are_converted_to_utc():
    text = "Time,Open,High,Low,Close\n2024-03-08T09:30+01:00,1,2,0.5,1\n2024-03-08 09:30Z,1,2,0.5,1\n"
    frame = read_bars_csv(io.StringIO(text))
    assert [t.isoformat() for t in frame.index] == ["2024-03-08T08:30:00+00:00", "2024-03-08T09:30:00+00:00"]


def test_a_time_without_offset_among_times_with_one_is_named():
    text = GOOD.replace("2024-01-02", "2024-01-02 10:00+01:00").replace("2024-01-03", "2024-01-03 10:00+02:00")
    assert _errors(text) == [
        "line 4, Date: '2024-01-04' has no UTC offset but line 2 has one; give every time an offset, "
        "or none (then all are read in UTC)"]


def test_wall_clock_times_that_dst_skips_or_repeats_are_named():
    text = "Time,Open,High,Low,Close\n2024-03-10 02:30,1,2,0.5,1\n2024-11-03 01:30,1,2,0.5,1\n"
    with pytest.raises(CsvImportError) as info:
        read_bars_csv(io.StringIO(text), timezone="America/New_York", name="ny.csv")
    assert [str(e) for e in info.value.errors] == [
        "line 2, Time: '2024-03-10 02:30' is skipped when the clocks go forward in America/New_York; "
        "give times with a UTC offset",
        "line 3, Time: '2024-11-03 01:30' is repeated when the clocks go back in America/New_York; "
        "give times with a UTC offset"]


def test_the_repeated_hour_in_time_order_is_told_apart():
    rows = "".join(f"2024-11-03 {t},1,2,0.5,1\n" for t in ("01:00", "01:30", "01:00", "01:30", "02:00"))
    frame = read_bars_csv(io.StringIO("Time,Open,High,Low,Close\n" + rows), timezone="America/New_York")
    assert [f"{t:%H:%M}" for t in frame.index] == ["05:00", "05:30", "06:00", "06:30", "07:00"]


def test_blank_lines_do_not_shift_the_line_numbers():
    assert _errors(GOOD.replace("\n2024-01-03", "\n\n2024-01-03") + "\nx,1,2,0.5,1,1\n") == [
        "line 7, Date: 'x' is not a date/time"]


def test_a_folder_or_an_unknown_time_zone_gets_a_message(tmp_path):
    with pytest.raises(CsvImportError, match="is a folder"):
        read_bars_csv(tmp_path)
    with pytest.raises(CsvImportError, match="time zone 'Mars/Olympus' is not known"):
        read_bars_csv(io.StringIO(GOOD), timezone="Mars/Olympus")


def test_the_message_is_one_line_however_many_rows_are_bad():
    text = GOOD + "".join(f"2024-02-{d:02d},1,0.5,2,1,1\n" for d in range(1, 10))
    with pytest.raises(CsvImportError) as info:
        read_bars_csv(io.StringIO(text), name="many.csv")
    assert len(info.value.errors) == 9 and "\n" not in str(info.value)
    assert str(info.value).endswith("; … and 4 more")
