"""A short ``train()`` run on the EMO-DB fixture with a tiny CNN-LSTM, for interrupted-run tests.

``tests/test_interrupted_runs.py`` calls :func:`run_training` in process (the uninterrupted
reference and the resumed run) and runs this file as a script to get a run it can SIGKILL in
the middle of a checkpoint save::

    python helpers_interrupted_run.py CORPUS_ROOT OUTPUT_DIR --hang_in_save 2 --marker PATH

``--hang_in_save N`` wraps ``Accelerator.save_state`` in this process only: the Nth call
writes its files, then the marker file is created and the process sleeps, so the kill lands
after the state is written and before the checkpoint is complete.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from accelerate import Accelerator

from sertune.data import load_corpus
from sertune.models import build_cnn_model
from sertune.models.logmel import LogMelFeatureExtractor
from sertune.training import TrainingConfig, TrainingResult, train

# Six steps, evaluated and checkpointed every two: checkpoints step-2 and step-4 (none at the
# last step, which saves the final model instead).
SETTINGS = {
    "max_steps": 6,
    "per_device_train_batch_size": 4,
    "learning_rate": 3e-3,
    "eval_strategy": "steps",
    "eval_steps": 2,
    "save_steps": 2,
    "logging_steps": 1,
    "dataloader_num_workers": 0,
    "use_cpu": True,
    "report_to": "none",
}


def run_training(corpus_root, output_dir, *, model=None, **overrides) -> TrainingResult:
    """Train on speakers 03 and 08, select on 10, test on 16, with ``SETTINGS`` + overrides."""
    corpus = load_corpus("emodb", corpus_root)
    speakers = np.asarray(corpus["speaker"])

    def rows(names):
        return corpus.select(np.flatnonzero(np.isin(speakers, names)).tolist())

    if model is None:
        model = tiny_model(corpus)
    return train(
        model,
        LogMelFeatureExtractor(n_mels=32, segment_frames=32, segment_hop_frames=32),
        train_dataset=rows(["03", "08"]),
        eval_dataset=rows(["10"]),
        test_dataset=rows(["16"]),
        config=TrainingConfig(output_dir=str(output_dir), **{**SETTINGS, **overrides}),
    )


def tiny_model(corpus):
    """The tiny random CNN-LSTM, seeded so that every run starts from the same weights."""
    id2label = dict(enumerate(corpus.features["label"].names))
    return build_cnn_model("tiny-random-cnn-lstm", id2label=id2label, seed=0)


def hang_in_save(call_number: int, marker: Path) -> None:
    """Make the ``call_number``-th ``Accelerator.save_state`` write, mark, then sleep."""
    original = Accelerator.save_state
    calls = 0

    def save_state(self, output_dir=None, **kwargs):
        nonlocal calls
        calls += 1
        location = original(self, output_dir, **kwargs)
        if calls == call_number:
            marker.write_text(str(output_dir))
            time.sleep(600)
        return location

    Accelerator.save_state = save_state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus_root")
    parser.add_argument("output_dir")
    parser.add_argument("--hang_in_save", type=int, required=True)
    parser.add_argument("--marker", type=Path, required=True)
    args = parser.parse_args(argv)
    hang_in_save(args.hang_in_save, args.marker)
    run_training(args.corpus_root, args.output_dir)


if __name__ == "__main__":
    main()
