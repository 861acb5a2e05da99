"""Training objectives: what the loop minimises on a training batch.

The loop (:func:`sertune.training.loop.train`) calls one :class:`TrainingObjective` for every
step, whatever it is: plain classification (:class:`ClassificationObjective`) and knowledge
distillation (:class:`DistillationObjective`) and continued wav2vec 2.0 pretraining
(:class:`Wav2Vec2PretrainingObjective`, which ignores the labels) are implementations, each in
its own module;
another objective is another module, not a branch in the loop.
"""

from sertune.training.objectives.base import TrainingObjective
from sertune.training.objectives.classification import ClassificationObjective
from sertune.training.objectives.distillation import DistillationObjective
from sertune.training.objectives.pretraining import Wav2Vec2PretrainingObjective

__all__ = [
    "ClassificationObjective",
    "DistillationObjective",
    "TrainingObjective",
    "Wav2Vec2PretrainingObjective",
]
