"""TableSource: chunks reproduce the whole file, rows are numbered globally, bad files fail up front."""

from __future__ import annotations

import pandas as pd
import pytest

from xai_reports.batch import TableSource
from xai_reports.errors import InputError
from xai_reports.io.tabular import read_table


@pytest.fixture()
def csv_file(tmp_path):
    df = pd.DataFrame({"applicant_id": [f"A{i:03d}" for i in range(23)],
                       "x": [f"{i / 7:.6f}" for i in range(23)],
                       "s": ["", "NA", " padded "] + ["v"] * 20})
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize("size", [1, 5, 23, 1000])
def test_csv_chunks_reassemble_the_file(csv_file, size):
    whole = read_table(csv_file)
    parts = list(TableSource(csv_file).chunks(size))
    assert [len(p) for p in parts][:-1] == [size] * (len(parts) - 1)
    joined = pd.concat(parts)
    assert list(joined.index) == list(range(len(whole)))  # file-global positions, not per chunk
    assert joined.astype(str).equals(whole.astype(str))  # strings as written: "" and "NA" untouched


def test_start_skips_rows_but_keeps_numbers(csv_file):
    parts = list(TableSource(csv_file).chunks(5, start=12))
    assert parts[0].index[0] == 12 and sum(map(len, parts)) == 11


def test_parquet_chunks_are_typed_the_same_whatever_the_boundaries(tmp_path):
    pytest.importorskip("pyarrow")
    # an integer column with a null only in the second half: pandas would turn it into floats
    # in the chunks that hold the null and keep ints elsewhere; we keep ints and None everywhere.
    df = pd.DataFrame({"applicant_id": [f"A{i}" for i in range(10)],
                       "n": pd.array([1, 2, 3, 4, 5, 6, 7, None, 9, 10], dtype="Int64"),
                       "f": [0.5] * 10})
    p = tmp_path / "t.parquet"
    df.to_parquet(p, row_group_size=3)
    for size in (1, 3, 4, 10):
        vals = [v for part in TableSource(p).chunks(size) for v in part["n"].tolist()]
        assert vals == [1, 2, 3, 4, 5, 6, 7, None, 9, 10]
        assert all(type(v) is int for v in vals if v is not None)
    assert TableSource(p).scan(id_column="applicant_id").rows == 10


def test_dataframe_source(csv_file):
    df = read_table(csv_file)
    parts = list(TableSource(df).chunks(10))
    assert [p.index[0] for p in parts] == [0, 10, 20]
    assert TableSource(df).label == "<DataFrame>"


def test_duplicate_id_late_in_the_file_is_found_before_any_chunk(tmp_path):
    ids = [f"A{i}" for i in range(3000)] + ["A17"]
    p = tmp_path / "dup.csv"
    pd.DataFrame({"applicant_id": ids, "x": ["1"] * len(ids)}).to_csv(p, index=False)
    with pytest.raises(InputError) as err:
        TableSource(p).scan(id_column="applicant_id")
    assert err.value.row == 3001 and err.value.column == "applicant_id" and "A17" in str(err.value)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"a,b\n", "no rows"),
    (b"a,b\n1,2\n3,4,5,6\n", "cannot read as CSV"),
    (b"a,a\n1,2\n", "duplicate column"),
])
def test_bad_files_fail_in_the_scan(tmp_path, content, message):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(InputError, match=message):
        TableSource(p).scan()


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        TableSource(tmp_path / "nope.csv").columns()


def test_fingerprint_follows_content(csv_file, tmp_path):
    a = TableSource(csv_file).fingerprint()
    copy = tmp_path / "copy.csv"
    copy.write_bytes(csv_file.read_bytes())
    assert TableSource(copy).fingerprint()["sha256"] == a["sha256"]
    copy.write_bytes(csv_file.read_bytes().replace(b"A001", b"A901"))
    assert TableSource(copy).fingerprint()["sha256"] != a["sha256"]
