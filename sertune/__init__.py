"""sertune: transfer-learning fine-tuning of pretrained speech models for speech emotion recognition."""

__version__ = "0.1.0.dev0"
