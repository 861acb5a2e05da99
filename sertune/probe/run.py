"""``sertune probe``: a linear classifier per fold on frozen features, written like ``sertune cv``.

    sertune probe --corpus emodb --data_dir data/emodb --protocol loso --features egemaps \\
        --output_dir runs/probe-egemaps [--classifier logreg] [--speaker_standardisation]

The corpus, labels and folds come from the recipes' data options (:class:`DataArguments`,
:func:`make_folds`), so the test speakers of each fold are those ``sertune cv`` uses with the
same options. A probe has no early stopping, so it trains on the fold's training and
validation speakers together. Features are extracted once per utterance and cached on disk
(:mod:`sertune.probe.cache`). The folder gets ``cv_results.json``, ``cv_summary.md`` and the
pooled ``confusion_matrix.png`` as a ``sertune cv`` folder, plus ``probe_config.json`` (the
resolved options). An encoder source gets one probe per hidden layer, each in ``layer-<k>/``,
and at the top ``cv_results.json`` / ``cv_summary.md`` with the scores by layer and
``uar_by_layer.png``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sertune.config import config_to_dict
from sertune.data.arguments import DataArguments, load_data, make_folds
from sertune.data.protocols import Fold
from sertune.metrics import compute_ser_metrics
from sertune.probe.cache import FeatureCache, extract_features
from sertune.probe.classifier import CLASSIFIERS, fit_probe, standardise_per_speaker
from sertune.probe.features import ProbeError, build_feature_source
from sertune.probe.report import write_layer_outputs
from sertune.training.cv import write_cv_outputs

logger = logging.getLogger(__name__)

PROBE_CONFIG_FILE = "probe_config.json"


@dataclass
class ProbeArguments:
    """What a probe extracts, which classifier it fits and where it writes."""

    features: str = field(
        metadata={
            "help": "egemaps, compare (openSMILE functionals; pip install 'sertune[opensmile]'), "
            "encoder:<hub id, folder or tiny-random[-<family>]> (one probe per hidden layer) "
            "or model:<sertune model folder> (the input of its head)."
        }
    )
    output_dir: str = field(metadata={"help": "Folder of the probe's results."})
    classifier: str = field(
        default="logreg", metadata={"help": "logreg (logistic regression) or linear_svm."}
    )
    C: list[float] = field(
        default_factory=lambda: [1.0],
        metadata={
            "help": "Inverse regularisation strength; several values are chosen among by inner "
            "cross-validation on the training speakers (GroupKFold by speaker, UAR)."
        },
    )
    inner_folds: int = field(default=5, metadata={"help": "Inner folds when choosing C."})
    speaker_standardisation: bool = field(
        default=False,
        metadata={
            "help": "Standardise each speaker's features by that speaker's own mean and std "
            "(unlabeled; the test speaker's from its own audio) instead of training statistics."
        },
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Feature cache (default $SERTUNE_CACHE/probe-features or ~/.cache/...)."},
    )
    device: str = field(
        default="cpu",
        metadata={"help": "Device of encoders and models: cpu, cuda, cuda:<index> or auto."},
    )
    seed: int = field(default=0, metadata={"help": "Solver seed and tiny-random encoder seed."})
    overwrite: bool = field(
        default=False, metadata={"help": "Replace the results already in output_dir."}
    )


def default_cache_dir() -> Path:
    """``$SERTUNE_CACHE/probe-features``, or ``~/.cache/sertune/probe-features``."""
    root = os.environ.get("SERTUNE_CACHE") or Path.home() / ".cache" / "sertune"
    return Path(root).expanduser() / "probe-features"


def run_probe(data_args: DataArguments, probe_args: ProbeArguments) -> dict[str, Any]:
    """Extract (or read cached) features, probe every fold, write the results.

    Args:
        data_args: Corpus, labels and protocol, as the recipes take them.
        probe_args: Features, classifier and output options.

    Returns:
        What ``cv_results.json`` holds.

    Raises:
        ProbeError: A bad option, or a feature source that cannot be built.
        SertuneError: The corpus cannot be loaded or read.
    """
    _check_options(data_args, probe_args)
    source = build_feature_source(
        probe_args.features, device=probe_args.device, seed=probe_args.seed
    )
    cache = FeatureCache(probe_args.cache_dir or default_cache_dir(), source)
    corpus, _ = load_data(data_args)
    folds = make_folds(corpus, data_args)
    root = _claim_output_dir(Path(probe_args.output_dir), probe_args.overwrite)
    features = extract_features(corpus["audio"], cache)
    labels = np.asarray(corpus["label"])
    speakers = np.asarray(corpus["speaker"])
    label_names = list(corpus.features["label"].names)
    if probe_args.speaker_standardisation:
        features = standardise_per_speaker(features, speakers)
    config = config_to_dict(data_args, probe_args)
    config["feature_fingerprint"] = source.fingerprint
    (root / PROBE_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    describe = _description(data_args, probe_args, source.name, len(folds))
    if source.layer_names is None:
        return probe_folds(
            root, features, labels, speakers, folds, label_names, probe_args, describe
        )
    layer_results = []
    for index, name in enumerate(source.layer_names):
        layer_describe = {**describe, "layer": index, "layer_name": name}
        layer_describe["title"] += f", {name}"
        layer_results.append(
            probe_folds(
                root / f"layer-{index:02d}",
                features[:, index],
                labels,
                speakers,
                folds,
                label_names,
                probe_args,
                layer_describe,
            )
        )
    return write_layer_outputs(root, layer_results, source.layer_names, describe)


def probe_folds(
    output_dir: Path,
    features: np.ndarray,
    labels: np.ndarray,
    speakers: np.ndarray,
    folds: Sequence[Fold],
    label_names: list[str],
    probe_args: ProbeArguments,
    describe: dict[str, Any],
) -> dict[str, Any]:
    """Fit and test one probe per fold; write ``cv_results.json``, ``cv_summary.md``, the PNG.

    Args:
        output_dir: Where the three files go (created).
        features: ``[rows, dim]`` features of the whole corpus (already standardised per
            speaker when that option is on).
        labels: Class id of each row.
        speakers: Speaker of each row.
        folds: The protocol's folds; training uses ``train`` and ``validation`` rows.
        label_names: Class names in id order.
        probe_args: Classifier options.
        describe: ``title``, ``notes`` and settings written with the results.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    fold_results, table = [], []
    for k, fold in enumerate(folds):
        train = np.asarray(sorted([*fold.train, *fold.validation]))
        test = np.asarray(fold.test)
        started = time.perf_counter()
        fitted = fit_probe(
            features[train],
            labels[train],
            speakers[train],
            classifier=probe_args.classifier,
            Cs=probe_args.C,
            global_scaling=not probe_args.speaker_standardisation,
            inner_folds=probe_args.inner_folds,
            seed=probe_args.seed,
        )
        seconds = time.perf_counter() - started
        predictions = fitted.model.predict(features[test])
        metrics = compute_ser_metrics(predictions, labels[test], label_names=label_names)
        fold_results.append(metrics)
        table.append(
            {
                "fold": k,
                "fold_name": fold.name,
                "test_speakers": list(fold.test_speakers),
                "seed": probe_args.seed,
                **{name: metrics[name] for name in ("uar", "wa", "macro_f1")},
                "num_train": len(train),
                "num_test": len(test),
                "C": fitted.C,
                "C_selection": fitted.selection,
                "fit_seconds": seconds,
            }
        )
        logger.info("%s: UAR %.4f (C=%g)", fold.name, metrics["uar"], fitted.C)
    return write_cv_outputs(
        output_dir,
        fold_results,
        table,
        label_names,
        seeds=[probe_args.seed],
        extra=describe,
        run_columns=PROBE_RUN_COLUMNS,
    )


PROBE_RUN_COLUMNS = (
    ("C", lambda row: f"{row['C']:g}"),
    ("train / test", lambda row: f"{row['num_train']} / {row['num_test']}"),
    ("seconds", lambda row: f"{row['fit_seconds']:.1f}"),
)


def _description(
    data_args: DataArguments, probe_args: ProbeArguments, source: str, num_folds: int
) -> dict[str, Any]:
    """The settings a reader needs, as results entries and as summary lines."""
    if probe_args.speaker_standardisation:
        standardisation = (
            "per speaker: each speaker's features by its own mean and std over all its "
            "utterances, without labels (test speakers' from their own audio)"
        )
    else:
        standardisation = "global: mean and std of the training speakers of each fold"
    if len(probe_args.C) == 1:
        c_choice = f"fixed C={probe_args.C[0]:g}, never tuned on test speakers"
    else:
        c_choice = (
            f"C among {[float(c) for c in probe_args.C]} by inner GroupKFold "
            f"(at most {probe_args.inner_folds} folds) over the training speakers only, "
            "scored by UAR"
        )
    return {
        "title": f"Probe {source} ({probe_args.classifier}), {data_args.corpus_name} {data_args.protocol}",
        "notes": [
            f"features: {source}",
            f"classifier: {probe_args.classifier}, class_weight=balanced",
            f"standardisation: {standardisation}",
            f"C: {c_choice}",
            f"folds: {num_folds} of protocol {data_args.protocol} (split_seed "
            f"{data_args.split_seed}), the folds `sertune cv` uses; training = each fold's "
            "training and validation speakers",
        ],
        "corpus": data_args.corpus_name,
        "protocol": data_args.protocol,
        "features": source,
        "classifier": probe_args.classifier,
        "speaker_standardisation": probe_args.speaker_standardisation,
        "standardisation": standardisation,
        "C_choice": c_choice,
    }


def _check_options(data_args: DataArguments, probe_args: ProbeArguments) -> None:
    if data_args.fold != 0:
        raise ProbeError(
            f"--fold {data_args.fold}: a probe runs every fold of the protocol; leave --fold out"
        )
    if probe_args.classifier not in CLASSIFIERS:
        raise ProbeError(
            f"--classifier {probe_args.classifier!r}: expected one of {', '.join(CLASSIFIERS)}"
        )
    if not probe_args.C or any(not c > 0 for c in probe_args.C):
        raise ProbeError(f"--C {probe_args.C}: give one or more positive values, e.g. --C 1")
    if len(set(probe_args.C)) != len(probe_args.C):
        raise ProbeError(f"--C {probe_args.C}: values repeat")
    if probe_args.inner_folds < 2:
        raise ProbeError(f"--inner_folds {probe_args.inner_folds}: needs at least 2")


def _claim_output_dir(root: Path, overwrite: bool) -> Path:
    """Refuse to mix a new probe's files with an earlier one's, unless told to replace them."""
    if root.exists() and not root.is_dir():
        raise ProbeError(f"--output_dir {root}: is a file; choose a folder")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise ProbeError(
                f"--output_dir {root}: not empty; choose another folder, or pass --overwrite "
                "to replace its contents"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    return root


__all__ = [
    "PROBE_CONFIG_FILE",
    "PROBE_RUN_COLUMNS",
    "ProbeArguments",
    "default_cache_dir",
    "probe_folds",
    "run_probe",
]
