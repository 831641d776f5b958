"""History loaders (CSV, quandl; IB history comes through the broker) and bar aggregation."""

from terminal.data.aggregate import resample_bars
from terminal.data.csv_import import CsvImportError, RowError, infer_bar_size, read_bars_csv

__all__ = ["CsvImportError", "RowError", "infer_bar_size", "read_bars_csv", "resample_bars"]
