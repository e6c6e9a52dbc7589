"""The healthcare example: two demonstration models and case-review sheets made from them.

* :mod:`.wdbc`: the real WDBC measurements (``sklearn.datasets.load_breast_cancer``), as the pack names them;
* :mod:`.lesions`: the SYNTHETIC lesion image generator (:func:`~.lesions.make_lesion_set`);
* :mod:`.training`: ``train_wdbc_model(out_dir)`` / ``train_lesion_model(out_dir)`` -> model + model card;
* :mod:`.demo`: :func:`~.demo.run_healthcare_demo` (both models, sheets in both print profiles).

The case-review pipeline itself is library code: :mod:`xai_reports.documents.case_review`.
"""
