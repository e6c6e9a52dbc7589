"""SYNTHETIC chest-report example: a tiny BERT classifier (report text -> finding) and its text case-review sheets."""
