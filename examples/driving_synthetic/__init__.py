"""Autonomous-driving pack: SYNTHETIC scenes, decision models and incident explanation reports.

* :mod:`.scenes`: the procedural scene generator and the documented action rule;
* :mod:`.clips`: scripted incident clips and the clip folder format;
* :mod:`.models` / :mod:`.training`: the decision CNN (architecture registry) and the XGBoost planner;
* :mod:`.analysis`: replay, events, key frames, object attribution shares, occlusion tests;
* :mod:`.incident_file`: the investigator's ``INCIDENT.yaml`` schema;
* :mod:`.report`: :func:`generate_incident_report`; :mod:`.demo`: :func:`run_driving_demo`.
"""

from .clips import SCENARIOS, read_clip, write_clip
from .incident_file import load_incident
from .models import ARCHITECTURES, load_decision_model, load_planner
from .scenes import ACTIONS, Scene, SceneObject, correct_action, ground_truth, make_dataset, render_scene

__all__ = ["ACTIONS", "ARCHITECTURES", "SCENARIOS", "Scene", "SceneObject", "correct_action", "ground_truth",
           "make_dataset", "render_scene", "read_clip", "write_clip", "load_incident", "load_decision_model",
           "load_planner", "generate_incident_report", "run_driving_demo"]


def __getattr__(name):
    if name == "generate_incident_report":
        from .report import generate_incident_report

        return generate_incident_report
    if name == "run_driving_demo":
        from .demo import run_driving_demo

        return run_driving_demo
    raise AttributeError(name)
