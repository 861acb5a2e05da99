"""Knowledge distillation: a trained teacher's softened outputs train a smaller student.

The student's training loss on a batch is ::

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))     soft targets (Hinton et al.)
    + (1 - alpha) * hard_loss(student, labels)                         the run's criterion
    + embedding_weight * d(P(student pooled embedding), teacher pooled embedding)
    + hidden_weight * mean over pairs d(P_i(student layer s_i), teacher layer t_i)

``T^2`` keeps the soft term's gradients on the scale of the hard term's whatever the
temperature. ``d`` is DistilHuBERT's feature distance, L1 minus ``log sigmoid`` of the cosine
similarity, averaged over real frames; each ``P`` is a learned linear projection from the
student's width to the teacher's, trained with the student and dropped afterwards (the saved
student is an ordinary sertune model). A pooled embedding is what a model's classification
head (``model.head``, in every sertune family) receives, so embedding matching works between
any two families; hidden-layer matching needs two wav2vec2-family models with the same frame
rate.

The teacher is any trained sertune model loaded with ``from_pretrained``. It runs in evaluation
mode with no gradients, on the same (cropped, augmented) waveforms as the student, through its
own feature extractor: :class:`DistillationCollator` adds its inputs to every training batch.
With ``cache_teacher_outputs`` the teacher's outputs are kept for each utterance's latest crop
and reused while the crop repeats (always, for utterances no longer than ``max_train_seconds``):
that is only right when the inputs repeat, so it is refused with augmentation on. A batch runs
the teacher when any of its utterances has a new crop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from accelerate.utils import extract_model_from_parallel
from torch import nn

logger = logging.getLogger(__name__)

#: Prefix of the batch entries that hold the teacher's inputs.
TEACHER_INPUT_PREFIX = "teacher_"

#: Batch entry with ``[row, crop offset]`` per utterance: the key of the teacher-output cache.
CACHE_KEYS_KEY = "distillation_cache_keys"


def distillation_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, averaged over the batch.

    Computed in float32 whatever the logits' precision.

    Args:
        student_logits: ``[batch, classes]``.
        teacher_logits: ``[batch, classes]``, without gradients.
        temperature: Softening temperature ``T`` (> 0); 1 leaves the distributions as they are.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} differ in shape"
        )
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    kl = F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True)
    return kl * temperature**2


def feature_distance(
    prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """DistilHuBERT's distance: mean L1 minus ``log sigmoid(cosine)``, averaged over vectors.

    Args:
        prediction: ``[..., width]`` (projected student features).
        target: Same shape (teacher features).
        mask: Boolean, the shape of ``prediction`` without the last axis: which vectors count
            (real frames). ``None`` counts them all.
    """
    if prediction.shape != target.shape:
        raise ValueError(
            f"student features {tuple(prediction.shape)} and teacher features "
            f"{tuple(target.shape)} differ in shape"
        )
    prediction, target = prediction.float(), target.float()
    l1 = (prediction - target).abs().mean(dim=-1)
    cosine = F.cosine_similarity(prediction, target, dim=-1)
    per_vector = l1 - F.logsigmoid(cosine)
    if mask is None:
        return per_vector.mean()
    mask = mask.to(per_vector.device, torch.bool)
    if not bool(mask.any()):
        raise ValueError("no real frames to compare")
    return per_vector[mask].mean()


def parse_layer_pairs(pairs: Sequence[str]) -> list[tuple[int, int]]:
    """``["2:4", "2:8"]`` -> ``[(2, 4), (2, 8)]``: student hidden state : teacher hidden state.

    Raises:
        ValueError: For an entry that is not two integers joined by ``:``.
    """
    parsed = []
    for pair in pairs:
        parts = str(pair).split(":")
        if len(parts) != 2 or not all(part.strip().lstrip("-").isdigit() for part in parts):
            raise ValueError(
                f"hidden layer pair {pair!r} is not STUDENT:TEACHER hidden-state indices, e.g. 2:4"
            )
        parsed.append((int(parts[0]), int(parts[1])))
    return parsed


@dataclass
class DistillationArguments:
    """Recipe options of knowledge distillation (see :mod:`sertune.training.distill`)."""

    teacher: str = field(
        default=None,
        metadata={"help": "Folder (or hub id) of a trained sertune model: the teacher."},
    )
    temperature: float = field(
        default=2.0, metadata={"help": "Softening temperature T of both distributions."}
    )
    alpha: float = field(
        default=0.5,
        metadata={"help": "Weight of the soft (teacher) loss; the hard-label loss gets 1 - alpha."},
    )
    embedding_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of matching the teacher's pooled embedding through a learned "
            "projection (0: off)."
        },
    )
    hidden_layer_pairs: list[str] = field(
        default_factory=list,
        metadata={
            "help": "STUDENT:TEACHER hidden-state indices to match through learned projections "
            "(0 is the input of the first layer, i the output of layer i), e.g. 1:2 2:4; "
            "wav2vec2-family student and teacher only."
        },
    )
    hidden_weight: float = field(
        default=1.0, metadata={"help": "Weight of the hidden-layer matching loss."}
    )
    cache_teacher_outputs: bool = field(
        default=False,
        metadata={
            "help": "Keep the teacher's outputs for each utterance's latest crop and reuse them "
            "while it repeats (refused with augmentation, whose inputs change every epoch)."
        },
    )

    def __post_init__(self):
        if not self.teacher:
            raise ValueError("--teacher is required: the folder of a trained sertune model")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.embedding_weight < 0 or self.hidden_weight < 0:
            raise ValueError("embedding_weight and hidden_weight must not be negative")
        parse_layer_pairs(self.hidden_layer_pairs)

    def distiller_options(self) -> dict[str, Any]:
        """The keyword arguments of :class:`Distiller` that these options set."""
        return {
            "temperature": self.temperature,
            "alpha": self.alpha,
            "embedding_weight": self.embedding_weight,
            "hidden_layer_pairs": parse_layer_pairs(self.hidden_layer_pairs),
            "hidden_weight": self.hidden_weight,
            "cache_teacher_outputs": self.cache_teacher_outputs,
        }


def load_teacher(name_or_path: str) -> tuple[nn.Module, Any]:
    """A trained sertune model and its feature extractor, from a folder or the Hub.

    Raises:
        ValueError: When the folder holds no sertune model, naming the folder.
    """
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    from sertune.errors import ModelLoadError
    from sertune.models import register_auto_classes
    from sertune.safe_loading import check_finite_parameters

    register_auto_classes()
    try:
        teacher = AutoModelForAudioClassification.from_pretrained(
            name_or_path, use_safetensors=True
        )
        feature_extractor = AutoFeatureExtractor.from_pretrained(name_or_path)
        check_finite_parameters(teacher, name_or_path)
    except ModelLoadError:
        raise
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot load the teacher from {name_or_path!r}: {error}") from error
    if getattr(teacher, "head", None) is None:
        raise ValueError(
            f"{name_or_path!r} holds a {type(teacher).__name__}, not a sertune model with a "
            "classification head"
        )
    return teacher, feature_extractor


def check_teacher_labels(teacher: nn.Module, label_names: Sequence[str], teacher_path: str) -> None:
    """Refuse a teacher whose classes are not ``label_names`` in that order.

    Raises:
        ValueError: Naming the teacher and both label lists.
    """
    config = teacher.config
    teacher_names = [config.id2label[i] for i in range(config.num_labels)]
    if teacher_names != list(label_names):
        raise ValueError(
            f"teacher {teacher_path!r} was trained on labels {teacher_names}, but the corpus "
            f"has {list(label_names)}: distil on the teacher's label set (--labels)"
        )


def head_input_size(model: nn.Module) -> int:
    """Width of the pooled embedding that ``model.head`` (a sertune ClassificationHead) takes."""
    head = getattr(model, "head", None)
    first = getattr(head, "dense", None) or getattr(head, "classifier", None)
    if not isinstance(first, nn.Linear):
        raise ValueError(
            f"{type(model).__name__} has no sertune classification head (`head`) to read its "
            "pooled embedding from"
        )
    return first.in_features


class _PooledEmbedding:
    """Records the input of ``model.head``: the pooled utterance embedding of the last call."""

    def __init__(self, model: nn.Module):
        self.value: torch.Tensor | None = None
        self.handle = model.head.register_forward_pre_hook(self._record)

    def _record(self, module, inputs) -> None:
        self.value = inputs[0]

    def pop(self) -> torch.Tensor:
        value, self.value = self.value, None
        if value is None:
            raise RuntimeError("the model's head did not run: no pooled embedding recorded")
        return value


class DistillationCollator:
    """The student's collator, plus the teacher's inputs from the very same waveforms.

    The teacher's inputs go under ``teacher_<name>`` (``teacher_input_values`` or
    ``teacher_input_features``, and ``teacher_attention_mask``), with the cache keys (row and
    crop offset) under :data:`CACHE_KEYS_KEY`. Feature-level augmentation (SpecAugment) is the
    student collator's and reaches the student only.

    Args:
        student_collator: Builds the student's batch from the examples.
        teacher_feature_extractor: The teacher's feature extractor.
    """

    def __init__(self, student_collator: Callable, teacher_feature_extractor):
        self.student_collator = student_collator
        self.teacher_feature_extractor = teacher_feature_extractor

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.student_collator(examples)
        teacher = self.teacher_feature_extractor(
            [example["input_values"] for example in examples],
            sampling_rate=self.teacher_feature_extractor.sampling_rate,
            padding=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        for name, value in teacher.items():
            batch[TEACHER_INPUT_PREFIX + name] = value
        batch[CACHE_KEYS_KEY] = torch.tensor(
            [[example.get("row", -1), example.get("offset", 0)] for example in examples],
            dtype=torch.long,
        )
        return batch


class DistillationProjections(nn.Module):
    """The learned projections from student features to teacher features (training only)."""

    def __init__(
        self,
        *,
        embedding: tuple[int, int] | None,
        hidden_pairs: Sequence[tuple[int, int]],
        hidden_sizes: tuple[int, int] | None,
    ):
        super().__init__()
        self.embedding = None if embedding is None else nn.Linear(*embedding)
        self.hidden = nn.ModuleDict(
            {f"{s}_{t}": nn.Linear(*hidden_sizes) for s, t in hidden_pairs}
            if hidden_sizes is not None
            else {}
        )

    def forward(
        self, embedding: torch.Tensor | None, hidden: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Project the student's pooled embedding and hidden states to the teacher's widths.

        Called through the prepared (DDP) wrapper, so that the projections' gradients are
        synchronised like the student's. Inputs are cast to the weights' dtype: under mixed
        precision the student's features may come out in half precision.
        """
        projected = None
        if embedding is not None:
            projected = self.embedding(embedding.to(self.embedding.weight.dtype))
        states = {
            name: self.hidden[name](value.to(self.hidden[name].weight.dtype))
            for name, value in hidden.items()
        }
        return projected, states


class Distiller:
    """The teacher and the distillation loss that the training loop uses in place of its own.

    Build it from a teacher loaded with :func:`load_teacher` (and, in a recipe,
    :meth:`DistillationArguments.distiller_options`); give it to
    :func:`sertune.training.loop.train` as ``distillation``. The loop reaches it through
    :class:`~sertune.training.objectives.DistillationObjective`: it wraps the training
    collator with :meth:`collator`, adds :meth:`parameter_groups` to the optimiser, calls
    :meth:`prepare` once and :meth:`loss_and_terms` at every step.

    Args:
        teacher: A trained sertune model (any family).
        teacher_feature_extractor: Its feature extractor.
        student: The model to train (any sertune family), with the same labels in the same
            order as the teacher.
        student_feature_extractor: The student's feature extractor; both must read audio at
            the same sampling rate, since they see the same waveforms.
        temperature: See :func:`distillation_kl`.
        alpha: Weight of the soft loss; the hard-label loss gets ``1 - alpha``.
        embedding_weight: Weight of pooled-embedding matching (0: off, no projection).
        hidden_layer_pairs: ``(student, teacher)`` hidden-state indices to match.
        hidden_weight: Weight of the hidden-state matching (averaged over pairs).
        cache_teacher_outputs: Reuse the teacher's outputs for a repeated (row, crop).

    Raises:
        ValueError: On different labels or sampling rates, hidden-layer pairs with a model
            that has no transformer layers or an index out of range.
    """

    def __init__(
        self,
        teacher: nn.Module,
        teacher_feature_extractor,
        *,
        student: nn.Module,
        student_feature_extractor,
        temperature: float = 2.0,
        alpha: float = 0.5,
        embedding_weight: float = 0.0,
        hidden_layer_pairs: Sequence[tuple[int, int]] = (),
        hidden_weight: float = 1.0,
        cache_teacher_outputs: bool = False,
    ):
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        teacher_labels = dict(teacher.config.id2label)
        student_labels = dict(student.config.id2label)
        if {int(k): v for k, v in teacher_labels.items()} != {
            int(k): v for k, v in student_labels.items()
        }:
            raise ValueError(
                f"teacher labels {teacher_labels} and student labels {student_labels} differ: "
                "the teacher must be trained on the same classes in the same order"
            )
        teacher_rate = teacher_feature_extractor.sampling_rate
        student_rate = student_feature_extractor.sampling_rate
        if teacher_rate != student_rate:
            raise ValueError(
                f"the teacher reads audio at {teacher_rate} Hz and the student at {student_rate} "
                "Hz; they must read the same waveforms"
            )
        self.teacher = teacher.eval().requires_grad_(False)
        self.teacher_feature_extractor = teacher_feature_extractor
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.embedding_weight = float(embedding_weight)
        self.hidden_layer_pairs = [(int(s), int(t)) for s, t in hidden_layer_pairs]
        self.hidden_weight = float(hidden_weight)
        self.cache_teacher_outputs = bool(cache_teacher_outputs)
        if self.cache_teacher_outputs and self.hidden_layer_pairs:
            raise ValueError(
                "cache_teacher_outputs keeps logits and pooled embeddings only; hidden-layer "
                "matching needs the teacher's hidden states at every step"
            )

        hidden_sizes = None
        if self.hidden_layer_pairs:
            hidden_sizes = (
                _transformer_depth_and_width(student, "student")[1],
                _transformer_depth_and_width(teacher, "teacher")[1],
            )
            for role, model, index in (
                *(("student", student, s) for s, _ in self.hidden_layer_pairs),
                *(("teacher", teacher, t) for _, t in self.hidden_layer_pairs),
            ):
                depth = _transformer_depth_and_width(model, role)[0]
                if not 0 <= index <= depth:
                    raise ValueError(
                        f"{role} hidden state {index} out of range: it has {depth} layers "
                        f"(hidden states 0 to {depth})"
                    )
        embedding = None
        if self.embedding_weight > 0:
            embedding = (head_input_size(student), head_input_size(teacher))
        self.projections = DistillationProjections(
            embedding=embedding, hidden_pairs=self.hidden_layer_pairs, hidden_sizes=hidden_sizes
        )
        self._student_embedding = _PooledEmbedding(student) if embedding else None
        self._teacher_embedding = _PooledEmbedding(teacher) if embedding else None
        self._cache: dict[int, tuple[int, torch.Tensor, torch.Tensor | None]] = {}
        self._accelerator = None
        self.teacher_batches_run = 0

    # ----------------------------------------------------------------------------------------
    # What the loop calls

    def collator(self, student_collator: Callable) -> DistillationCollator:
        """The training collator: the student's batch plus the teacher's inputs."""
        return DistillationCollator(student_collator, self.teacher_feature_extractor)

    def check_augmentation(self, augmented: bool) -> None:
        """Refuse the teacher-output cache when the training inputs change every epoch."""
        if augmented and self.cache_teacher_outputs:
            raise ValueError(
                "cache_teacher_outputs reuses the teacher's outputs for a repeated utterance and "
                "crop, but augmentation changes the inputs every epoch: turn one of them off"
            )

    def parameter_groups(self, learning_rate: float, weight_decay: float) -> list[dict]:
        """AdamW groups of the projections (a ``head`` group: they train from the first step)."""
        decay = [p for p in self.projections.parameters() if p.ndim >= 2]
        no_decay = [p for p in self.projections.parameters() if p.ndim < 2]
        groups = []
        if decay:
            groups.append(
                {
                    "params": decay,
                    "lr": learning_rate,
                    "weight_decay": weight_decay,
                    "name": "head.distillation",
                }
            )
        if no_decay:
            groups.append(
                {
                    "params": no_decay,
                    "lr": learning_rate,
                    "weight_decay": 0.0,
                    "name": "head.distillation.no_decay",
                }
            )
        return groups

    def prepare(self, accelerator) -> None:
        """Put the teacher on the device and the projections through ``accelerator.prepare``.

        The projections are prepared (synchronised across processes, saved and restored with
        the checkpoints); the teacher is only moved, since it never trains.
        """
        self._accelerator = accelerator
        self.teacher.to(accelerator.device)
        if any(True for _ in self.projections.parameters()):
            self.projections = accelerator.prepare(self.projections)
        else:
            self.projections.to(accelerator.device)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The projections' parameters (for gradient clipping with the student's)."""
        return list(self.projections.parameters())

    def loss(
        self,
        model: nn.Module,
        batch: dict[str, torch.Tensor],
        labels: torch.Tensor,
        hard_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """The student's distillation loss on a training batch (see :meth:`loss_and_terms`)."""
        return self.loss_and_terms(model, batch, labels, hard_loss)[0]

    def loss_and_terms(
        self,
        model: nn.Module,
        batch: dict[str, torch.Tensor],
        labels: torch.Tensor,
        hard_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The student's distillation loss on a training batch from :class:`DistillationCollator`.

        Args:
            model: The (prepared) student.
            batch: The batch without ``labels``; the teacher's entries are removed from it.
            labels: Class ids.
            hard_loss: The run's criterion ``(logits, labels) -> loss``.

        Returns:
            The loss and its terms for the training log (``kd_soft``, ``kd_hard``,
            ``kd_embedding``, ``kd_hidden``: those that apply, unweighted).
        """
        teacher_inputs = {
            name[len(TEACHER_INPUT_PREFIX) :]: batch.pop(name)
            for name in [n for n in batch if n.startswith(TEACHER_INPUT_PREFIX)]
        }
        cache_keys = batch.pop(CACHE_KEYS_KEY, None)
        if not teacher_inputs:
            raise ValueError(
                "the batch has no teacher inputs: build the training collator with "
                "Distiller.collator"
            )
        want_hidden = bool(self.hidden_layer_pairs)
        outputs = model(**batch, output_hidden_states=True) if want_hidden else model(**batch)
        student_embedding = (
            self._student_embedding.pop() if self._student_embedding is not None else None
        )
        hard = hard_loss(outputs.logits, labels)
        if self.alpha == 0 and student_embedding is None and not want_hidden:
            # The hard-label control: nothing of the teacher's is used, so it does not run.
            return hard, {"kd_hard": hard}
        teacher_logits, teacher_embedding, teacher_hidden = self._teacher_outputs(
            teacher_inputs, cache_keys, labels.device
        )
        soft = distillation_kl(outputs.logits, teacher_logits, self.temperature)
        total = self.alpha * soft + (1.0 - self.alpha) * hard
        terms = {"kd_soft": soft, "kd_hard": hard}
        if student_embedding is None and not want_hidden:
            return total, terms
        student_states = {f"{s}_{t}": outputs.hidden_states[s] for s, t in self.hidden_layer_pairs}
        projected_embedding, projected_states = self.projections(student_embedding, student_states)
        if student_embedding is not None:
            terms["kd_embedding"] = feature_distance(projected_embedding, teacher_embedding)
            total = total + self.embedding_weight * terms["kd_embedding"]
        if want_hidden:
            terms["kd_hidden"] = self._hidden_loss(model, projected_states, teacher_hidden, batch)
            total = total + self.hidden_weight * terms["kd_hidden"]
        return total, terms

    # ----------------------------------------------------------------------------------------

    def _projections(self) -> DistillationProjections:
        return extract_model_from_parallel(self.projections)

    @torch.no_grad()
    def _teacher_outputs(self, teacher_inputs, cache_keys, device):
        keys = None
        if self.cache_teacher_outputs:
            keys = [] if cache_keys is None else [tuple(map(int, k)) for k in cache_keys.tolist()]
            if not keys or any(row < 0 for row, _ in keys):
                raise ValueError(
                    "cache_teacher_outputs needs each example's row index (the 'row' entry that "
                    "AudioClassificationDataset gives); this batch has none"
                )
            # One entry per utterance, for its latest crop: a hit needs the same crop.
            if all(self._cache.get(row, (None,))[0] == offset for row, offset in keys):
                logits = torch.stack([self._cache[row][1] for row, _ in keys]).to(device)
                embedding = None
                if self._teacher_embedding is not None:
                    embedding = torch.stack([self._cache[row][2] for row, _ in keys]).to(device)
                return logits, embedding, None
        teacher_inputs = {name: value.to(device) for name, value in teacher_inputs.items()}
        autocast = (
            self._accelerator.autocast()
            if self._accelerator is not None
            else contextlib.nullcontext()
        )
        with autocast:
            outputs = self.teacher(
                **teacher_inputs, output_hidden_states=bool(self.hidden_layer_pairs)
            )
        self.teacher_batches_run += 1
        logits = outputs.logits.float()
        embedding = None
        if self._teacher_embedding is not None:
            embedding = self._teacher_embedding.pop().float()
        if keys is not None:
            for i, (row, offset) in enumerate(keys):
                self._cache[row] = (
                    offset,
                    logits[i].detach(),
                    None if embedding is None else embedding[i].detach(),
                )
        return logits, embedding, outputs.hidden_states

    def _hidden_loss(self, model, projected_states, teacher_hidden, batch) -> torch.Tensor:
        student = extract_model_from_parallel(model)
        losses = []
        for s, t in self.hidden_layer_pairs:
            predicted, teacher_states = projected_states[f"{s}_{t}"], teacher_hidden[t].float()
            if predicted.shape[:2] != teacher_states.shape[:2]:
                raise ValueError(
                    f"student hidden state {s} has {predicted.shape[1]} frames and teacher "
                    f"hidden state {t} has {teacher_states.shape[1]}: hidden-layer matching "
                    "needs the same frame rate (the student built from the teacher's layers "
                    "keeps it)"
                )
            mask = student.frame_mask(predicted.shape[1], batch.get("attention_mask"))
            losses.append(feature_distance(predicted, teacher_states, mask))
        return torch.stack(losses).mean()


def _transformer_depth_and_width(model: nn.Module, role: str) -> tuple[int, int]:
    encoder_config = getattr(model.config, "encoder_config", None)
    if encoder_config is None or not hasattr(model, "frame_mask"):
        raise ValueError(
            f"hidden-layer matching needs wav2vec2-family models; the {role} is a "
            f"{type(model).__name__} (use embedding matching between families)"
        )
    return int(encoder_config.num_hidden_layers), int(encoder_config.hidden_size)
