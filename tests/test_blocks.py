"""The content-tree vocabulary (xai_reports.documents.blocks)."""

import math

import numpy as np
import pandas as pd

from xai_reports.documents import blocks as b


def test_exports_are_pinned():
    assert set(b.__all__) == {"NOT_COMPUTED", "is_nan", "fixed", "percent", "p_value_text", "p_value_phrase",
                              "bounded_list", "cell", "table", "paragraph", "bullet_list", "key_value_table",
                              "collapsible", "figure", "subheading", "grid", "not_computed", "jsonable"}


def test_numbers_as_text():
    assert b.fixed(1234.56789) == "1,234.568" and b.fixed(0.5, 2) == "0.50" and b.fixed(math.nan) == "n/a"
    assert b.percent(0.1234) == "12.3%" and b.percent(0.1234, 2) == "12.34%" and b.percent(None) == "n/a"
    assert b.p_value_text(0.0004) == "<0.001" and b.p_value_text(0.0131) == "0.013" and b.p_value_text(np.nan) == "n/a"
    assert b.p_value_phrase(0.0004) == "p < 0.001" and b.p_value_phrase(0.0131) == "p = 0.013"
    assert b.bounded_list(list("abcdefgh"), 3) == "a, b, c and 5 more" and b.bounded_list(["a"]) == "a"


def test_cells_keep_sortable_values_and_full_precision():
    c = b.cell("0.123", np.float64(0.123456789), flag="flag")
    assert c == {"text": "0.123", "value": 0.123456789, "title": repr(0.123456789), "flag": "flag"}
    assert b.cell("n/a", math.nan) == {"text": "n/a"}
    assert b.cell("yes", True) == {"text": "yes", "value": True}


def test_blocks_are_plain_data():
    assert b.key_value_table([("Rows", 3)]) == {"type": "kv", "rows": [["Rows", "3"]]}
    assert b.not_computed("why") == {"type": "p", "text": "not computed in this run: why", "class": "not-computed"}
    assert b.collapsible("s", [b.subheading("h")]) == {"type": "details", "summary": "s",
                                                      "blocks": [{"type": "h3", "text": "h"}]}
    assert b.grid([b.figure("f", "cap", "alt")])["blocks"][0] == {"type": "figure", "figure": "f", "caption": "cap",
                                                                  "alt": "alt"}


def test_jsonable():
    out = b.jsonable({"a": np.int64(2), "b": (np.float32(0.5), math.inf), "c": np.array([1, 2]),
                      "d": pd.DataFrame({"x": [1]}), "e": np.bool_(True)})
    assert out == {"a": 2, "b": [0.5, None], "c": [1, 2], "d": [{"x": 1}], "e": True}
