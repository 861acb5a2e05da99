"""Recipe options shared by several recipes: the log-mel front end, the wav2vec2 model and head."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .logmel import LogMelFeatureExtractor


@dataclass
class LogMelArguments:
    """How utterances become 3-channel log-mel segments (see :class:`LogMelFeatureExtractor`)."""

    n_mels: int = field(default=64, metadata={"help": "Mel bands (image height)."})
    segment_frames: int = field(default=64, metadata={"help": "Frames (10 ms) per segment."})
    segment_hop_frames: int = field(default=32, metadata={"help": "Frames between segments."})
    image_size: int | None = field(
        default=None, metadata={"help": "Resize segments to this square size (224: full size)."}
    )
    normalization: str = field(
        default="utterance",
        metadata={
            "help": "Per channel and mel bin: utterance (each utterance's own mean and std), "
            "global (the training speakers' mean and std, fitted by the recipe) or none."
        },
    )

    def feature_extractor(self) -> LogMelFeatureExtractor:
        """The feature extractor these options describe (25 ms windows, 10 ms hop)."""
        return LogMelFeatureExtractor(
            n_mels=self.n_mels,
            segment_frames=self.segment_frames,
            segment_hop_frames=self.segment_hop_frames,
            image_size=self.image_size,
            normalization=self.normalization,
        )


@dataclass
class EncoderHeadArguments:
    """A wav2vec2-family encoder and its pooling head (the recipes' model options)."""

    model_name_or_path: str = field(
        default="facebook/wav2vec2-base",
        metadata={
            "help": "Encoder hub id or folder, a sertune run folder, an audio-classification "
            "checkpoint of the wav2vec2 family, or tiny-random[-<family>] (offline)."
        },
    )
    reinit_head: bool = field(
        default=False,
        metadata={"help": "From a trained model: re-initialise the whole head (keep the encoder)."},
    )
    use_weighted_layer_sum: bool = field(
        default=True, metadata={"help": "Learn a softmax-weighted sum of all hidden layers."}
    )
    pooling: str = field(
        default="attention", metadata={"help": "Frame pooling: attention or mean."}
    )
    head_hidden_size: int = field(default=256, metadata={"help": "Hidden size of the MLP head."})
    head_dropout: float = field(default=0.1, metadata={"help": "Dropout in the head."})

    def head_options(self) -> dict:
        """These options as ``build_ser_model`` keyword arguments (all but the name).

        ``reinit_head`` is among them: ``build_ser_model`` takes it beside the head options.
        """
        options = dataclasses.asdict(self)
        options.pop("model_name_or_path")
        return options
