"""The driving example: SYNTHETIC scenes and clips, the seeded training of the shipped models, the demo.

* :mod:`.scenes`: the scene sampler and the documented action rule that labels scenes;
* :mod:`.clips`: scripted incident scenarios, simulated and written as clip folders;
* :mod:`.training`: the decision CNN and the XGBoost planner (``python -m examples.driving_synthetic.training OUT``);
* :mod:`.demo`: :func:`run_driving_demo` (the shipped models in ``weights/``, one incident report).

The incident report itself, the clip reader and the models' loaders are library code:
:mod:`xai_reports.documents.incident`.
"""
