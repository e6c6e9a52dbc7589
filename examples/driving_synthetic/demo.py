"""The driving part of ``xai-reports demo``: one SYNTHETIC incident report.

Uses the shipped, seeded weights in ``examples/driving_synthetic/weights/`` (reproduced by
``python -m examples.driving_synthetic.training OUT``), or retrains them when asked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from xai_reports.documents.incident import generate_incident_report
from xai_reports.documents.incident.clips import read_clip
from xai_reports.documents.incident.incident_file import EXAMPLE_INCIDENT
from xai_reports.io.outputs import atomic_write
from xai_reports.packs import load_pack

from .clips import write_clip

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEMO_SCENARIO = "pedestrian_step_in"


def shipped_models() -> Path:
    """Folder of the shipped decision CNN, planner and model card."""
    return WEIGHTS_DIR


def run_driving_demo(out_dir="xai-reports-demo", *, retrain: bool = False, progress: bool = False,
                     scenario: str = DEMO_SCENARIO) -> dict:
    """Write a SYNTHETIC clip, an example incident file and its incident report under ``out_dir/driving``.

    Args:
        out_dir: the demo folder.
        retrain: train the models from scratch (seeded; about a minute on two idle cores)
            instead of copying the shipped weights.
        progress: show progress bars.
        scenario: which scripted clip to write (see :data:`examples.driving_synthetic.clips.SCENARIOS`).

    Returns:
        ``{"report": path, "record": path, "clip": path, "incident": path, "mcap": path or None,
        "model_dir": path, "key_frames": [...]}``; ``mcap`` is the same clip as an MCAP log with
        ROS 2 messages (written when the ``mcap`` extra is installed); ``bag`` the same clip as a
        ROS 2 bag folder (written when the ``rosbag`` extra is installed).

    Examples::

        >>> res = run_driving_demo("demo-out")
        >>> res["report"].name
        'incident_report.pdf'
    """
    base = Path(out_dir) / "driving"
    model_dir = base / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    if retrain or not (WEIGHTS_DIR / "decision_cnn.pt").is_file():
        from .training import train_and_save

        train_and_save(model_dir, progress=progress)
    else:
        for name in ("decision_cnn.pt", "planner_xgb.json", "model_card.json"):
            shutil.copyfile(WEIGHTS_DIR / name, model_dir / name)
    clip = write_clip(base / "clips" / scenario, scenario)
    mcap = bag = None
    # the same clip is also written as an MCAP log and a ROS 2 bag, where those extras are installed
    frames = read_clip(clip)
    topics = load_pack("autonomous_driving").section("incident").log_topics
    try:
        import mcap as _mcap  # noqa: F401 - the 'mcap' extra is optional
        import mcap_ros2 as _mcap_ros2  # noqa: F401
    except ImportError:
        pass
    else:
        from xai_reports.documents.incident.logs import write_mcap_clip

        mcap = write_mcap_clip(frames, base / "clips" / f"{scenario}.mcap", topics)
    try:
        import rosbags as _rosbags  # noqa: F401 - the 'rosbag' extra is optional
    except ImportError:
        pass
    else:
        from xai_reports.documents.incident.bags import write_bag_clip

        bag = write_bag_clip(frames, base / "clips" / f"{scenario}_ros2", topics)
    incident = base / "incident.yaml"
    atomic_write(incident, EXAMPLE_INCIDENT)
    res = generate_incident_report(model_dir, clip, incident, base / "incident_report.pdf",
                                   formats=("pdf", "json"), progress=progress)
    return {"report": res["files"][0], "record": res["files"][1], "clip": clip, "incident": incident, "mcap": mcap,
            "bag": bag, "model_dir": model_dir, "key_frames": res["record"]["key_frames"]}


__all__ = ["run_driving_demo", "shipped_models"]
