"""Frozen-feature probes: fixed features per utterance, a linear classifier per fold.

``sertune probe`` extracts features once (cached on disk), fits a class-weighted linear
classifier (logistic regression or a linear SVM, scikit-learn) on each fold's training speakers
and writes what ``sertune cv`` writes. See :mod:`sertune.probe.run`.
"""
