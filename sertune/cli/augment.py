"""``sertune augment preview FILE [FILE ...] --output_dir DIR [options]``.

Writes each file with a few augmented versions as WAV and their spectrograms as PNG (see
:func:`sertune.augment_preview.preview_augmentations`); the options are the recipes'
augmentation options (:class:`~sertune.training.augment.AugmentationArguments`), so a
``--config`` file of a recipe previews what training would do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sertune.augment_preview import preview_augmentations
from sertune.cli._parsing import parse_command
from sertune.training.augment import AugmentationArguments


@dataclass
class PreviewArguments:
    """What to preview and where to write it."""

    inputs: list[str] = field(
        metadata={"help": "Audio files to augment (also accepted as leading positional arguments)."}
    )
    output_dir: str = field(metadata={"help": "Folder for the WAV and PNG files."})
    num_examples: int = field(default=4, metadata={"help": "Augmented versions per file."})
    seed: int = field(default=0, metadata={"help": "Seed of the augmentation draws."})
    sampling_rate: int = field(
        default=16_000, metadata={"help": "Rate the files are resampled to (the model's rate)."}
    )

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError("give at least one audio file to preview")
        if self.num_examples < 0:
            raise ValueError(f"num_examples must be >= 0, got {self.num_examples}")
        if self.sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive, got {self.sampling_rate}")


def run(argv: list[str]) -> int:
    """Write the preview and say how many files it wrote; returns 0.

    Args:
        argv: ``FILE [FILE ...] --output_dir DIR [options]``; the options are those of
            :class:`AugmentationArguments` and :class:`PreviewArguments`, plus ``--config``.
    """
    augmentation, preview = parse_command(
        (AugmentationArguments, PreviewArguments),
        argv,
        command="augment preview",
        usage="sertune augment preview FILE [FILE ...] --output_dir DIR [options]",
        description="Write augmented versions of audio files (WAV) and their spectrograms (PNG).",
        positionals=("inputs",),
    )
    written = preview_augmentations(
        preview.inputs,
        preview.output_dir,
        augmentation,
        sampling_rate=preview.sampling_rate,
        num_examples=preview.num_examples,
        seed=preview.seed,
    )
    print(f"wrote {len(written)} files to {preview.output_dir}")
    return 0
