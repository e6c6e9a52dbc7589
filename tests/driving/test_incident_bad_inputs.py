"""Issue 16's bad inputs through ``xai-reports incident``: one line, exit 2, no traceback, nothing written;
control characters in the incident file never reach the report raw."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from bad_input_helpers import assert_refused, make_pack

from examples.driving_synthetic.clips import write_clip
from examples.driving_synthetic.demo import shipped_models
from xai_reports.cli import main
from xai_reports.documents.incident.incident_file import EXAMPLE_INCIDENT


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("incident_inputs")
    clip = write_clip(d / "clip", "pedestrian_step_in")
    inc = d / "incident.yaml"
    inc.write_text(EXAMPLE_INCIDENT)
    return {"clip": clip, "incident": inc}


def incident(inputs, out, *extra, incident_file=None):
    return ["incident", "--model", str(shipped_models()), "--clip", str(inputs["clip"]), "--incident",
            str(incident_file or inputs["incident"]), "--out", str(out), "--quiet", *extra]


def test_pack_naming_etc(inputs, tmp_path, capsys):
    pack = make_pack(tmp_path / "evil", "template_dirs: [/etc]\n", base="autonomous_driving")
    out = tmp_path / "out" / "r.pdf"
    rc = main(incident(inputs, out, "--pack", str(pack)))
    assert_refused(rc, out.parent, "template_dirs: '/etc' is an absolute path", err=capsys.readouterr().err)


@pytest.mark.parametrize("where", ["under a file", "/proc"])
def test_unwritable_output(inputs, tmp_path, capsys, where):
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" / "sub" / "r.pdf" if where == "under a file" else Path("/proc/xai-reports-test/r.pdf")
    rc = main(incident(inputs, out))
    assert_refused(rc, out.parent, "is inside" if where == "under a file" else "no file can be created in /proc",
                   err=capsys.readouterr().err)


@pytest.mark.parametrize("key", ["report.id", "report.same_incident_id", "safety_case.claims.0.id"])
def test_ids_with_control_characters(inputs, tmp_path, capsys, key):
    data = yaml.safe_load(EXAMPLE_INCIDENT)
    node = data
    parts = key.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    node[parts[-1]] = "INC\x00-1\n2"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))  # written as a double-quoted "INC\0-1\n2"
    out = tmp_path / "out" / "r.pdf"
    rc = main(incident(inputs, out, incident_file=bad))
    shown = key.replace(".0.", "[0].")
    assert_refused(rc, out.parent, f"bad.yaml: {shown}: an id must be printable text", err=capsys.readouterr().err)


def test_free_text_control_characters_do_not_reach_the_report(inputs, tmp_path):
    data = yaml.safe_load(EXAMPLE_INCIDENT)
    data["narrative"]["text"] = "The vehicle\x00 braked\x1b[2J.\r\nThen\x85 it\u2028stopped\x07."
    inc = tmp_path / "inc.yaml"
    inc.write_text(yaml.safe_dump(data))
    out = tmp_path / "out" / "r.html"
    assert main(incident(inputs, out, "--format", "html,json", incident_file=inc)) == 0
    html = out.read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", html)
    assert "The vehicle braked[2J." in html
    record = out.with_suffix(".json").read_text(encoding="utf-8")
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", record.rstrip("\n"))
    assert "\\u0000" in json.dumps(json.loads(record))  # the record keeps the text as given, escaped


def test_bad_mcap_log_is_one_line_naming_the_file(inputs, tmp_path, capsys):
    pytest.importorskip("mcap_ros2")
    bad = tmp_path / "log.mcap"
    bad.write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 40)
    out = tmp_path / "out" / "r.pdf"
    args = ["incident", "--model", str(shipped_models()), "--clip", str(bad), "--incident", str(inputs["incident"]),
            "--out", str(out), "--quiet"]
    rc = main(args)
    assert_refused(rc, out.parent, str(bad), "not a readable MCAP/ROS 2 log", err=capsys.readouterr().err)
