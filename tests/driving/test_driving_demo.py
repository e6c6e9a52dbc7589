"""The driving demo writes one SYNTHETIC incident report from the shipped models."""

import json

from examples.driving_synthetic.demo import run_driving_demo


def test_driving_demo(tmp_path):
    res = run_driving_demo(tmp_path)
    assert res["report"].name == "incident_report.pdf" and res["report"].stat().st_size > 20_000
    rec = json.loads(res["record"].read_text())
    assert rec["synthetic"] is True and rec["report_id"] == "INC-SYN-0001"
    assert (tmp_path / "driving" / "clips" / "pedestrian_step_in" / "clip.json").is_file()
    assert (tmp_path / "driving" / "model" / "decision_cnn.pt").is_file()
    assert res["mcap"] is None or res["mcap"].name == "pedestrian_step_in.mcap" and res["mcap"].stat().st_size > 100_000
