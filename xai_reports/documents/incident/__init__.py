"""The incident explanation report (driving): one document kind, its whole pipeline.

* :mod:`.report`: :func:`generate_incident_report` (model + clip + incident file -> report),
  :func:`render_incident`, :func:`rerender_incident` (for ``xai-reports verify``);
* :mod:`.content`: the content tree the template prints;
* :mod:`.analysis`: replay, events, key frames, object attribution shares, occlusion tests;
* :mod:`.figures`: timeline, key-frame, occlusion and planner figures;
* :mod:`.clips`: the clip folder format and its strict reader;
* :mod:`.logs`: MCAP logs with ROS 2 messages, read (and written) through the pack's topic map;
* :mod:`.facts`: facts computed from the log, and the cross-check of the incident file against them;
* :mod:`.sgo`: the NHTSA SGO data elements, exported as CSV or JSON;
* :mod:`.scenes`: the SYNTHETIC road world a synthetic clip's frames are re-rendered from;
* :mod:`.incident_file`: the investigator's ``INCIDENT.yaml`` schema;
* :mod:`.models`: the decision-model and planner loaders.

Decision-model architectures are registered in :mod:`xai_reports.adapters.architectures`; the
synthetic scene sampler, scripted clips, training and shipped weights are in ``examples/driving_synthetic``.
"""

from .clips import Clip, read_clip
from .content import event_sentence, incident_content
from .incident_file import EXAMPLE_INCIDENT, Incident, load_incident, validate_incident
from .models import PLANNER_FEATURES, load_decision_model, load_planner
from .report import FORMATS, RECORD_SCHEMA, build_incident, generate_incident_report, render_incident, rerender_incident

__all__ = ["generate_incident_report", "build_incident", "render_incident", "rerender_incident", "incident_content",
           "event_sentence", "Clip", "read_clip", "Incident", "load_incident", "validate_incident",
           "EXAMPLE_INCIDENT", "load_decision_model", "load_planner", "PLANNER_FEATURES", "FORMATS",
           "RECORD_SCHEMA"]
