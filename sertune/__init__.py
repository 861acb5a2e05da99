"""sertune: transfer-learning fine-tuning of pretrained speech models for speech emotion recognition."""

__version__ = "0.1.0.dev0"

# Registers the sertune models with the transformers Auto classes (AutoConfig,
# AutoModelForAudioClassification, AutoFeatureExtractor), so saved models load by folder name.
from sertune import models as models  # noqa: E402
