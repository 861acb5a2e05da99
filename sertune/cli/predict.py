"""``sertune predict``: emotion predictions for audio files and folders, as JSON lines or CSV.

``sertune predict MODEL PATH [PATH ...] [--output FILE] [--format jsonl|csv] [--batch_size 8]
[--device cpu|cuda|auto] [--long] [--window_seconds 2] [--hop_seconds 0.5] [--skip_silence]
[--silence_threshold_db -70] [--silence_relative_db 35]``

``MODEL`` is a folder a recipe saved (model and feature extractor). Each ``PATH`` is a file or a
folder searched recursively for ``.wav``/``.flac``/``.ogg`` files; the files are predicted in
sorted order, one output record per file, written as soon as it is known.

* Utterance mode (the default): each file is decoded whole, resampled to the model's rate and
  classified; files are batched ``batch_size`` at a time.
* ``--long``: each file is classified window by window, read in blocks so that memory stays
  flat (see :meth:`~sertune.inference.EmotionPredictor.predict_long`); ``label``, ``score`` and
  ``scores`` are the mean of the windows' probabilities.

JSON lines (``--format jsonl``) hold ``path``, ``label``, ``score``, ``scores`` (every class's
probability, most probable first) and ``error``; with ``--long`` also ``duration``,
``skipped_windows``, ``classified_windows``, ``all_silent`` and the timeline ``windows``. CSV
(``--format csv``) has the columns ``path,label,score``, one probability column per label (in
the model's ``id2label`` order) and ``error``; it has no timeline, so use JSON lines for one.

A file that cannot be used (not audio, unreadable, truncated, too short for the model) is
reported on stderr with its path and the reason, and gets a record whose ``error`` says why
(its label and scores empty); the other files go on. The exit status is 0 when every file was
predicted, 1 when a file failed (or the model could not be loaded), 2 for bad options or paths.
Errors other than a file's are reported by :func:`sertune.cli.main`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from tqdm.auto import tqdm

from sertune.audio import load_audio
from sertune.cli._parsing import UsageError, parse_command
from sertune.errors import AudioDecodeError, SertuneError
from sertune.inference import DEVICES, EmotionPredictor, iter_audio_files

logger = logging.getLogger(__name__)

__all__ = ["PredictArguments", "run"]

#: Utterance mode decodes a file whole; longer files get a warning suggesting --long.
LONG_FILE_WARNING_SECONDS = 60.0

_ERRORS = (SertuneError, ValueError, RuntimeError, OSError)
_CSV_FIXED_COLUMNS = ("path", "label", "score", "error")


@dataclass
class PredictArguments:
    """What to predict, how, and where to write it."""

    model: str = field(
        metadata={"help": "Model folder (save_pretrained of model and feature extractor)."}
    )
    inputs: list[str] = field(
        metadata={"help": "Audio files and folders (also accepted as positional arguments)."}
    )
    output: str | None = field(
        default=None, metadata={"help": "Write the records to this file instead of stdout."}
    )
    overwrite: bool = field(
        default=False, metadata={"help": "Replace an existing --output file (never an input)."}
    )
    format: Literal["jsonl", "csv"] = field(
        default="jsonl", metadata={"help": "jsonl: one JSON object per file; csv: one row each."}
    )
    batch_size: int = field(
        default=8, metadata={"help": "Files (or --long windows) per forward pass."}
    )
    device: str = field(
        default="cpu", metadata={"help": "cpu, cuda, cuda:<index> or auto (CUDA if available)."}
    )
    long: bool = field(
        default=False,
        metadata={"help": "Classify each file window by window (a timeline); memory stays flat."},
    )
    window_seconds: float = field(default=2.0, metadata={"help": "--long: window length (s)."})
    hop_seconds: float = field(
        default=0.5, metadata={"help": "--long: distance between window starts (s)."}
    )
    skip_silence: bool = field(
        default=False,
        metadata={"help": "--long: leave windows below --silence_threshold_db out."},
    )
    silence_threshold_db: float = field(
        default=-70.0,
        metadata={"help": "--long: absolute floor (dBFS); windows below it are silent."},
    )
    silence_relative_db: float = field(
        default=35.0,
        metadata={
            "help": "--long: a window more than this many dB below the file's loudest window "
            "is silent (relative, so quiet recordings keep their speech)."
        },
    )

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError("give at least one audio file or folder")
        if self.format not in ("jsonl", "csv"):
            raise ValueError(f"--format must be jsonl or csv, got {self.format!r}")
        if self.batch_size < 1:
            raise ValueError(f"--batch_size must be at least 1, got {self.batch_size}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(
                f"--device must be one of {list(DEVICES)} or cuda:<index>, got {self.device!r}"
            )
        if self.window_seconds <= 0 or self.hop_seconds <= 0:
            raise ValueError("--window_seconds and --hop_seconds must be positive")
        if self.hop_seconds > self.window_seconds:
            raise ValueError(
                f"--hop_seconds ({self.hop_seconds}) is longer than --window_seconds "
                f"({self.window_seconds}): audio between windows would not be classified"
            )
        if self.silence_relative_db <= 0:
            raise ValueError(
                f"--silence_relative_db must be positive, got {self.silence_relative_db}"
            )
        if self.skip_silence and not self.long:
            raise ValueError("--skip_silence applies to --long only")


def run(argv: list[str]) -> int:
    """Predict every file and write one record each.

    Args:
        argv: ``MODEL PATH [PATH ...] [options]`` (see the module docstring).

    Returns:
        0 when every file was predicted, 1 when a file failed.

    Raises:
        UsageError: A bad option, a missing path, no audio files, or an unwritable ``--output``.
        OSError, ValueError: The model cannot be loaded.
    """
    (args,) = parse_command(
        (PredictArguments,),
        argv,
        command="predict",
        usage="sertune predict MODEL PATH [PATH ...] [options]",
        description="Predict the emotion of audio files (folders are searched recursively) "
        "and write JSON lines or CSV. Give MODEL and the paths before the options.",
        positionals=("model", "inputs"),
    )
    try:
        files = iter_audio_files(args.inputs)
    except FileNotFoundError as error:
        raise UsageError(str(error)) from error
    if not files:
        raise UsageError(f"no audio files in {args.inputs}")
    if args.output is not None:
        _check_output(Path(args.output), files, [args.model], overwrite=args.overwrite)
    predictor = EmotionPredictor.from_pretrained(
        args.model, device=args.device, batch_size=args.batch_size
    )
    with contextlib.ExitStack() as stack:
        stream = sys.stdout
        if args.output is not None:
            try:
                stream = stack.enter_context(open(args.output, "w", encoding="utf-8"))
            except OSError as error:
                message = f"{args.output}: cannot write there ({error.strerror})"
                raise UsageError(message) from error
        writer = _RecordWriter(stream, args.format, predictor.labels)
        with tqdm(total=len(files), unit="file", desc="predict", file=sys.stderr) as progress:
            if args.long:
                failed = _predict_long(predictor, files, args, writer, progress.update)
            else:
                failed = _predict_utterances(predictor, files, writer, progress.update)
    if failed:
        _report(f"sertune predict: {failed} of {len(files)} files failed (see above)")
    return 1 if failed else 0


def _check_output(output: Path, files: list[Path], others: list[str], *, overwrite: bool) -> None:
    """Refuse an ``--output`` that is an input, lies in the model folder, is not a regular
    file, or (without ``--overwrite``) already exists: opening it for writing would truncate it.
    """
    if not output.exists():
        return
    resolved = output.resolve()
    if resolved in {f.resolve() for f in files}:
        raise UsageError(f"--output {output}: is one of the input files; it is never overwritten")
    for other in others:
        if Path(other).exists() and resolved.is_relative_to(Path(other).resolve()):
            raise UsageError(f"--output {output}: lies inside the model folder {other}")
    if output.is_dir():
        raise UsageError(f"--output {output}: is a folder; give a file name")
    if not output.is_file() and not output.is_char_device():
        raise UsageError(f"--output {output}: is not a regular file (a FIFO or socket); not opened")
    if output.is_file() and not overwrite:
        raise UsageError(f"--output {output}: exists; pass --overwrite to replace it")


def _predict_utterances(
    predictor: EmotionPredictor,
    files: list[Path],
    writer: _RecordWriter,
    advance: Callable[[int], Any],
) -> int:
    """Predict files whole, ``batch_size`` at a time; returns how many failed."""
    failed = 0
    for first in range(0, len(files), predictor.batch_size):
        chunk = files[first : first + predictor.batch_size]
        results: dict[Path, dict[str, Any] | str] = {}
        waveforms: dict[Path, Any] = {}
        for path in chunk:
            try:
                waveforms[path] = load_audio(path, predictor.sampling_rate)
            except _ERRORS as error:
                results[path] = _reason(error, path)
                continue
            seconds = len(waveforms[path]) / predictor.sampling_rate
            if seconds > LONG_FILE_WARNING_SECONDS:
                logger.warning(
                    "%s: %.0f s long, classified as one utterance; --long gives a timeline "
                    "and reads the file in blocks",
                    path,
                    seconds,
                )
        if waveforms:
            try:
                predictions = predictor.predict(list(waveforms.values()))
                results.update(zip(waveforms, predictions, strict=True))
            except _ERRORS:
                # Some file of the batch cannot be classified: find out which, one by one.
                for path, waveform in waveforms.items():
                    try:
                        results[path] = predictor.predict([waveform])[0]
                    except _ERRORS as error:
                        results[path] = _reason(error, path)
        for path in chunk:
            result = results[path]
            if isinstance(result, str):
                failed += 1
                _report(f"sertune predict: {path}: {result}")
                writer.write(
                    {
                        "path": str(path),
                        "label": None,
                        "score": None,
                        "scores": None,
                        "error": result,
                    }
                )
            else:
                writer.write({"path": str(path), **result, "error": None})
        advance(len(chunk))
    return failed


def _predict_long(
    predictor: EmotionPredictor,
    files: list[Path],
    args: PredictArguments,
    writer: _RecordWriter,
    advance: Callable[[int], Any],
) -> int:
    """Predict files window by window; returns how many failed."""
    failed = 0
    for path in files:
        try:
            timeline = predictor.predict_long(
                path,
                window_seconds=args.window_seconds,
                hop_seconds=args.hop_seconds,
                skip_silence=args.skip_silence,
                silence_threshold_db=args.silence_threshold_db,
                silence_relative_db=args.silence_relative_db,
            )
        except _ERRORS as error:
            failed += 1
            reason = _reason(error, path)
            _report(f"sertune predict: {path}: {reason}")
            writer.write(
                {"path": str(path), "label": None, "score": None, "scores": None, "error": reason}
            )
        else:
            aggregate = timeline["aggregate"] or {"label": None, "score": None, "scores": None}
            writer.write(
                {
                    "path": str(path),
                    **aggregate,
                    "error": None,
                    "duration": timeline["duration"],
                    "skipped_windows": timeline["skipped_windows"],
                    "classified_windows": timeline["classified_windows"],
                    "all_silent": timeline["all_silent"],
                    "windows": timeline["windows"],
                }
            )
        advance(1)
    return failed


class _RecordWriter:
    """Writes one record per file as a JSON line or a CSV row, flushed at once."""

    def __init__(self, stream: TextIO, kind: str, labels: Sequence[str]):
        self.stream = stream
        self.kind = kind
        self.labels = list(labels)
        self.csv = None
        if kind == "csv":
            # A label named like a fixed column gets a prefix, so that no column is ambiguous.
            clash = set(self.labels).intersection(_CSV_FIXED_COLUMNS)
            self.label_columns = [f"score_{x}" if clash else x for x in self.labels]
            self.csv = csv.writer(stream)
            self.csv.writerow(["path", "label", "score", *self.label_columns, "error"])
            stream.flush()

    def write(self, record: dict[str, Any]) -> None:
        if self.csv is None:
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            scores = record["scores"] or {}
            self.csv.writerow(
                [
                    record["path"],
                    _blank(record["label"]),
                    _blank(record["score"]),
                    *(_blank(scores.get(label)) for label in self.labels),
                    _blank(record["error"]),
                ]
            )
        self.stream.flush()


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _reason(error: Exception, path: Path) -> str:
    # Messages start with the file's path, which the record and the report already hold.
    if isinstance(error, AudioDecodeError):
        return error.problem
    return (str(error) or type(error).__name__).removeprefix(f"{path}: ")


def _report(message: str) -> None:
    # Through tqdm, so that a message does not land in the middle of the progress bar.
    tqdm.write(message, file=sys.stderr)
