"""The archive commands: stored bars out to the archive and back, copy and compact, on real files."""

from __future__ import annotations

import pandas as pd

from terminal.cli import main
from terminal.domain import BarSize, Instrument, Provenance
from terminal.store import Store


def test_stored_bars_go_to_the_archive_and_back_into_another_store(tmp_path, real_csv_dir, capsys):
    first, second = f"sqlite:///{tmp_path / 'a.sqlite'}", f"sqlite:///{tmp_path / 'b.sqlite'}"
    archive = str(tmp_path / "archive")
    assert main(["--db", first, "import", "csv", str(real_csv_dir / "GOOG.csv"), "--symbol", "GOOG"]) == 0
    assert main(["--db", first, "archive", "export", "GOOG", "--archive", archive]) == 0
    assert "exported 1 series" in capsys.readouterr().out
    assert main(["--db", second, "archive", "import", "GOOG", "--bar-size", "1D", "--archive", archive]) == 0
    stored = [Store.open(url) for url in (first, second)]
    frames = [s.bars.load_frame(Instrument("GOOG"), BarSize.DAY_1) for s in stored]
    # where the bars came from travels with them: a CSV's bars are CSV bars in the other store too
    assert [s.bars.provenance(Instrument("GOOG"), BarSize.DAY_1) for s in stored] == [Provenance.CSV] * 2
    for store in stored:
        store.close()
    assert len(frames[0]) > 100
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert pd.read_parquet(tmp_path / "archive" / "kind=bars")["bar_seconds"].unique().tolist() == [86400]

    capsys.readouterr()
    copy = str(tmp_path / "copy")
    assert main(["archive", "copy", archive, copy]) == 0
    assert "copied" in capsys.readouterr().out
    assert main(["--db", first, "archive", "export", "GOOG", "--archive", copy]) == 0  # again: replaced, not added
    assert main(["archive", "ls", "--archive", copy]) == 0
    listing = capsys.readouterr().out
    assert "bars   GOOG" in listing and "partitions" in listing
    assert main(["archive", "compact", "--archive", copy]) == 0
    assert main(["archive", "verify", "--archive", copy]) == 0
    assert ": 0 damaged" in capsys.readouterr().out
