"""Recipe options of the log-mel front end, shared by the CNN-family recipes."""

from __future__ import annotations

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

    def feature_extractor(self) -> LogMelFeatureExtractor:
        """The feature extractor these options describe (25 ms windows, 10 ms hop)."""
        return LogMelFeatureExtractor(
            n_mels=self.n_mels,
            segment_frames=self.segment_frames,
            segment_hop_frames=self.segment_hop_frames,
            image_size=self.image_size,
        )
