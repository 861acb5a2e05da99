"""Knowledge distillation: the loss against hand computations, students, the loop and the recipe."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sertune.data import load_corpus
from sertune.models import (
    build_cnn_model,
    build_feature_extractor,
    build_tiny_random_cnn_model,
    build_tiny_random_model,
    tiny_random_backbone_config,
)
from sertune.models.backbones import scale_backbone_width
from sertune.models.logmel import LogMelFeatureExtractor
from sertune.models.students import student_from_teacher_layers
from sertune.training import TrainingConfig, train
from sertune.training.augment import AugmentationArguments
from sertune.training.distill import (
    CACHE_KEYS_KEY,
    DistillationArguments,
    Distiller,
    check_teacher_labels,
    distillation_kl,
    feature_distance,
    load_teacher,
    parse_layer_pairs,
)
from sertune.training.report import flat_run_config
from sertune.training.run_folder import LOG_FILE

from pipeline_inputs import at_model_rate

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# The loss terms against hand computations


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0, 0.5])
def test_distillation_kl_matches_a_hand_computation(temperature):
    student = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    teacher = np.array([[1.0, 1.5, -0.5], [-2.0, 0.0, 1.0]])
    p_teacher = _softmax(teacher / temperature)
    p_student = _softmax(student / temperature)
    per_row = (p_teacher * (np.log(p_teacher) - np.log(p_student))).sum(axis=1)
    expected = per_row.mean() * temperature**2

    logits = torch.tensor(student, requires_grad=True)
    value = distillation_kl(logits, torch.tensor(teacher), temperature)
    # Computed in float32.
    assert value.item() == pytest.approx(expected, rel=1e-5)

    # d/ds of T^2 * mean KL = T * (p_student - p_teacher) / batch.
    value.backward()
    expected_grad = temperature * (p_student - p_teacher) / len(student)
    np.testing.assert_allclose(logits.grad.numpy(), expected_grad, rtol=1e-5, atol=1e-7)


def test_distillation_kl_is_zero_for_equal_logits_and_rejects_bad_input():
    logits = torch.randn(4, 5)
    assert distillation_kl(logits, logits.clone(), 3.0).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        distillation_kl(logits, logits, 0.0)
    with pytest.raises(ValueError, match="shape"):
        distillation_kl(logits, torch.randn(4, 6), 1.0)


def test_feature_distance_matches_a_hand_computation_with_a_mask():
    prediction = np.array([[[1.0, 2.0], [0.0, 1.0], [5.0, 5.0]]])
    target = np.array([[[1.0, 0.0], [1.0, 1.0], [-5.0, 0.0]]])
    mask = np.array([[True, True, False]])

    def hand(p, t):
        l1 = np.abs(p - t).mean()
        cosine = (p * t).sum() / (np.linalg.norm(p) * np.linalg.norm(t))
        return l1 - math.log(1 / (1 + math.exp(-cosine)))

    expected = (hand(prediction[0, 0], target[0, 0]) + hand(prediction[0, 1], target[0, 1])) / 2
    value = feature_distance(torch.tensor(prediction), torch.tensor(target), torch.tensor(mask))
    assert value.item() == pytest.approx(expected, rel=1e-6)
    unmasked = feature_distance(torch.tensor(prediction), torch.tensor(target))
    assert unmasked.item() != pytest.approx(expected)


def test_layer_pairs_and_arguments_are_checked():
    assert parse_layer_pairs(["1:2", "2:4"]) == [(1, 2), (2, 4)]
    for bad in ("1", "a:b", "1:2:3"):
        with pytest.raises(ValueError, match="STUDENT:TEACHER"):
            parse_layer_pairs([bad])
    with pytest.raises(ValueError, match="--teacher is required"):
        DistillationArguments()
    with pytest.raises(ValueError, match="alpha"):
        DistillationArguments(teacher="t", alpha=1.5)
    with pytest.raises(ValueError, match="temperature"):
        DistillationArguments(teacher="t", temperature=0)


# ---------------------------------------------------------------------------------------------
# Fixture corpus, a teacher trained on it, and the loop


@pytest.fixture(scope="module")
def corpus(emodb_fixture):
    return load_corpus("emodb", emodb_fixture)


def _split(corpus):
    speakers = np.asarray(corpus["speaker"])
    rows = lambda names: np.flatnonzero(np.isin(speakers, names)).tolist()  # noqa: E731
    return (
        corpus.select(rows(["03", "08", "09", "11"])),
        corpus.select(rows(["10"])),
        corpus.select(rows(["16"])),
    )


def _id2label(corpus):
    return dict(enumerate(corpus.features["label"].names))


def _settings(output_dir: Path, **options) -> TrainingConfig:
    return TrainingConfig(
        **{
            "output_dir": str(output_dir),
            "max_steps": 8,
            "per_device_train_batch_size": 4,
            "learning_rate": 3e-3,
            "warmup_ratio": 0.0,
            "eval_strategy": "steps",
            "eval_steps": 4,
            "logging_steps": 1,
            "dataloader_num_workers": 0,
            "use_cpu": True,
            "report_to": "none",
            **options,
        }
    )


@pytest.fixture(scope="module")
def teacher_dir(corpus, tmp_path_factory):
    """A 3-layer wav2vec2 teacher trained briefly on the fixture and saved like any run."""
    output_dir = tmp_path_factory.mktemp("teacher")
    model = build_tiny_random_model(
        id2label=_id2label(corpus), seed=1, encoder_overrides={"num_hidden_layers": 3}
    )
    train_set, validation, test = _split(corpus)
    train(
        model,
        build_feature_extractor(model.config),
        train_dataset=train_set,
        eval_dataset=validation,
        test_dataset=test,
        config=_settings(output_dir, max_steps=12, learning_rate=5e-3),
    )
    # Twelve steps leave the tiny teacher's outputs nearly uniform, which leaves the student
    # little to learn: a sharper classifier gives it confident, input-dependent targets.
    teacher, _ = load_teacher(str(output_dir))
    with torch.no_grad():
        teacher.head.classifier.weight.mul_(40.0)
        teacher.head.classifier.bias.mul_(40.0)
    teacher.save_pretrained(output_dir)
    return output_dir


def _records(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / LOG_FILE).read_text().splitlines()]


def _cnn_student(corpus):
    return build_cnn_model("tiny-random-cnn-lstm", id2label=_id2label(corpus), seed=0)


def _log_mel():
    return LogMelFeatureExtractor(n_mels=32, segment_frames=32, segment_hop_frames=32)


def _distil(
    corpus,
    teacher_dir,
    output_dir,
    *,
    student=None,
    extractor=None,
    augment=None,
    options=None,
    **kd,
):
    teacher, teacher_extractor = load_teacher(str(teacher_dir))
    student = student if student is not None else _cnn_student(corpus)
    extractor = extractor if extractor is not None else _log_mel()
    distiller = Distiller(
        teacher,
        teacher_extractor,
        student=student,
        student_feature_extractor=extractor,
        **kd,
    )
    train_set, validation, test = _split(corpus)
    result = train(
        student,
        extractor,
        train_dataset=train_set,
        eval_dataset=validation,
        test_dataset=test,
        config=_settings(output_dir, **(options or {})),
        augmentation=augment,
        distillation=distiller,
    )
    return result, distiller, student


def test_student_loss_falls_distilling_from_a_fixed_teacher(corpus, teacher_dir, tmp_path):
    teacher, teacher_extractor = load_teacher(str(teacher_dir))
    before = {name: p.detach().clone() for name, p in teacher.named_parameters()}
    output_dir = tmp_path / "student"
    student = _cnn_student(corpus)
    distiller = Distiller(
        teacher,
        teacher_extractor,
        student=student,
        student_feature_extractor=_log_mel(),
        temperature=2.0,
        alpha=1.0,
        embedding_weight=0.5,
    )
    projection_before = distiller.projections.embedding.weight.detach().clone()
    train_set, validation, test = _split(corpus)
    result = train(
        student,
        _log_mel(),
        train_dataset=train_set,
        eval_dataset=validation,
        test_dataset=test,
        config=_settings(output_dir, max_steps=24, learning_rate=1e-2),
        distillation=distiller,
    )
    soft = [r["kd_soft"] for r in _records(output_dir) if "kd_soft" in r]
    embedding = [r["kd_embedding"] for r in _records(output_dir) if "kd_embedding" in r]
    assert len(soft) == 24 and len(embedding) == 24
    assert np.mean(soft[-5:]) < 0.8 * np.mean(soft[:5]), soft
    assert np.mean(embedding[-5:]) < np.mean(embedding[:5]), embedding
    # alpha 1: the logged loss is the soft loss plus the weighted embedding term.
    record = next(r for r in _records(output_dir) if "kd_soft" in r)
    assert record["loss"] == pytest.approx(record["kd_soft"] + 0.5 * record["kd_embedding"])

    # The teacher stayed fixed, in evaluation mode, without gradients.
    assert not distiller.teacher.training
    for name, param in distiller.teacher.named_parameters():
        assert param.grad is None and not param.requires_grad, name
        torch.testing.assert_close(param.detach().cpu(), before[name], rtol=0, atol=0)
    # The projection trained with the student.
    projection_after = distiller._projections().embedding.weight.detach().cpu()
    assert not torch.equal(projection_after, projection_before)
    assert result.test_metrics["num_samples"] == len(test)

    # The student is an ordinary sertune model: it reloads and classifies in pipeline().
    from transformers import pipeline

    classify = pipeline("audio-classification", model=str(output_dir))
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    predictions = classify({"raw": tone, "sampling_rate": 16000}, top_k=3)
    assert {p["label"] for p in predictions} <= set(corpus.features["label"].names)
    config = json.loads((output_dir / "config.json").read_text())
    assert config["model_type"] == "sertune-cnn-lstm"
    assert not any(name.startswith("distillation") for name in config)


def test_loss_is_the_weighted_sum_of_soft_and_hard_terms(corpus, teacher_dir):
    teacher, teacher_extractor = load_teacher(str(teacher_dir))
    student = _cnn_student(corpus).eval()
    extractor = _log_mel()
    distiller = Distiller(
        teacher,
        teacher_extractor,
        student=student,
        student_feature_extractor=extractor,
        temperature=3.0,
        alpha=0.3,
    )
    from sertune.training.data import PaddingCollator

    rng = np.random.default_rng(0)
    examples = [
        {"input_values": rng.standard_normal(12000).astype(np.float32), "labels": i, "row": i}
        for i in range(3)
    ]
    batch = distiller.collator(PaddingCollator(extractor))(examples)
    batch.pop("padding_counts")
    labels = batch.pop("labels")
    hard = torch.nn.CrossEntropyLoss()
    with torch.no_grad():
        student_logits = student(
            input_features=batch["input_features"], attention_mask=batch["attention_mask"]
        ).logits
        teacher_logits = teacher(
            input_values=batch["teacher_input_values"],
            attention_mask=batch.get("teacher_attention_mask"),
        ).logits
        loss = distiller.loss(student, dict(batch), labels, hard_loss=hard)
    expected = 0.3 * distillation_kl(student_logits, teacher_logits, 3.0) + 0.7 * hard(
        student_logits, labels
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert batch[CACHE_KEYS_KEY].tolist() == [[0, 0], [1, 0], [2, 0]]

    # Without row indices a cache could not tell utterances apart: refused.
    distiller.cache_teacher_outputs = True
    anonymous = [{k: v for k, v in e.items() if k != "row"} for e in examples]
    batch = distiller.collator(PaddingCollator(extractor))(anonymous)
    batch.pop("padding_counts")
    with pytest.raises(ValueError, match="row index"):
        distiller.loss(student, batch, batch.pop("labels"), hard_loss=hard)


def test_cached_teacher_outputs_run_the_teacher_once_per_utterance(corpus, teacher_dir, tmp_path):
    num_train = len(_split(corpus)[0])
    batches_per_epoch = math.ceil(num_train / 4)
    assert 2 * batches_per_epoch < 15
    result, distiller, _ = _distil(
        corpus,
        teacher_dir,
        tmp_path / "cached",
        alpha=0.7,
        cache_teacher_outputs=True,
        options={"max_steps": 15, "max_train_seconds": None},
    )
    assert result.global_step == 15
    assert distiller.teacher_batches_run == batches_per_epoch
    assert len(distiller._cache) == num_train

    _, uncached, _ = _distil(
        corpus,
        teacher_dir,
        tmp_path / "uncached",
        alpha=0.7,
        options={"max_steps": 15, "max_train_seconds": None},
    )
    assert uncached.teacher_batches_run == 15

    # alpha 0 without feature matching is the hard-label control: the teacher never runs.
    result, control, _ = _distil(
        corpus, teacher_dir, tmp_path / "control", alpha=0.0, options={"max_steps": 3}
    )
    assert result.global_step == 3 and control.teacher_batches_run == 0
    assert all("kd_soft" not in r for r in _records(tmp_path / "control"))
    soft = lambda d: [r["kd_soft"] for r in _records(d) if "kd_soft" in r]  # noqa: E731
    np.testing.assert_allclose(soft(tmp_path / "cached"), soft(tmp_path / "uncached"), rtol=1e-4)


def test_cache_is_refused_with_augmentation(corpus, teacher_dir, tmp_path):
    with pytest.raises(ValueError, match="augmentation changes the inputs"):
        _distil(
            corpus,
            teacher_dir,
            tmp_path / "run",
            cache_teacher_outputs=True,
            augment=AugmentationArguments(gain_prob=1.0),
        )


def test_teacher_and_student_must_agree_on_labels_and_rate(corpus, teacher_dir):
    teacher, teacher_extractor = load_teacher(str(teacher_dir))
    names = corpus.features["label"].names
    other = build_cnn_model("tiny-random-cnn-lstm", id2label=dict(enumerate(names[::-1])))
    with pytest.raises(ValueError, match="labels"):
        Distiller(teacher, teacher_extractor, student=other, student_feature_extractor=_log_mel())
    slow = LogMelFeatureExtractor(n_mels=32, segment_frames=32, sampling_rate=8000)
    with pytest.raises(ValueError, match="8000 Hz"):
        Distiller(
            teacher, teacher_extractor, student=_cnn_student(corpus), student_feature_extractor=slow
        )
    check_teacher_labels(teacher, names, "t")
    with pytest.raises(ValueError, match="was trained on labels"):
        check_teacher_labels(teacher, names[:3], str(teacher_dir))
    with pytest.raises(ValueError, match="wav2vec2-family"):
        Distiller(
            teacher,
            teacher_extractor,
            student=_cnn_student(corpus),
            student_feature_extractor=_log_mel(),
            hidden_layer_pairs=[(1, 2)],
        )


def test_load_teacher_names_the_folder(tmp_path):
    with pytest.raises(ValueError, match=str(tmp_path / "missing")):
        load_teacher(str(tmp_path / "missing"))


# ---------------------------------------------------------------------------------------------
# Students


@pytest.mark.parametrize("family", ["wav2vec2", "hubert", "wavlm", "data2vec-audio"])
def test_student_from_the_first_teacher_layers_reproduces_them(family):
    teacher = build_tiny_random_model(
        family, num_labels=4, encoder_overrides={"num_hidden_layers": 4}
    ).eval()
    student = student_from_teacher_layers(teacher, [0, 1]).eval()
    assert student.config.encoder_config.num_hidden_layers == 2
    assert teacher.config.encoder_config.num_hidden_layers == 4
    waveform = torch.randn(2, 16000)
    with torch.no_grad():
        teacher_states = teacher(waveform, output_hidden_states=True).hidden_states
        student_states = student(waveform, output_hidden_states=True).hidden_states
    for index in range(3):
        torch.testing.assert_close(student_states[index], teacher_states[index])


def test_student_layers_map_to_the_chosen_teacher_layers():
    teacher = build_tiny_random_model(
        "wavlm",
        num_labels=3,
        encoder_overrides={"num_hidden_layers": 4},
        use_weighted_layer_sum=True,
    )
    with torch.no_grad():
        teacher.layer_sum.layer_weights.copy_(torch.arange(5.0))
    student = student_from_teacher_layers(teacher, [1, 3])
    t_state, s_state = teacher.state_dict(), student.state_dict()
    prefix = "encoder.encoder.layers"
    torch.testing.assert_close(
        s_state[f"{prefix}.1.feed_forward.output_dense.weight"],
        t_state[f"{prefix}.3.feed_forward.output_dense.weight"],
    )
    torch.testing.assert_close(
        s_state[f"{prefix}.0.attention.q_proj.weight"],
        t_state[f"{prefix}.1.attention.q_proj.weight"],
    )
    # WavLM's relative position embedding lives in the first layer only.
    torch.testing.assert_close(
        s_state[f"{prefix}.0.attention.rel_attn_embed.weight"],
        t_state[f"{prefix}.0.attention.rel_attn_embed.weight"],
    )
    assert student.layer_sum.layer_weights.tolist() == [0.0, 2.0, 4.0]
    torch.testing.assert_close(s_state["head.classifier.weight"], t_state["head.classifier.weight"])
    sizes = (
        sum(p.numel() for p in student.parameters()),
        sum(p.numel() for p in teacher.parameters()),
    )
    assert sizes[0] < sizes[1]


@pytest.mark.parametrize("layers", [[], [4], [-1], [2, 1], [1, 1]])
def test_student_layers_are_checked(layers):
    teacher = build_tiny_random_model(num_labels=3, encoder_overrides={"num_hidden_layers": 4})
    with pytest.raises(ValueError, match="layer"):
        student_from_teacher_layers(teacher, layers)


def test_a_cnn_teacher_cannot_give_a_transformer_student():
    with pytest.raises(ValueError, match="wav2vec2-family teacher"):
        student_from_teacher_layers(build_cnn_model("tiny-random-cnn-lstm", num_labels=3), [0])


def test_hidden_layer_matching_trains_a_shallow_student(corpus, teacher_dir, tmp_path):
    teacher, teacher_extractor = load_teacher(str(teacher_dir))
    student = student_from_teacher_layers(teacher, [0, 2])
    result, distiller, _ = _distil(
        corpus,
        teacher_dir,
        tmp_path / "shallow",
        student=student,
        extractor=teacher_extractor,
        hidden_layer_pairs=[(1, 1), (2, 3)],
        hidden_weight=1.0,
        options={"max_steps": 12, "learning_rate": 3e-3},
    )
    hidden = [r["kd_hidden"] for r in _records(tmp_path / "shallow") if "kd_hidden" in r]
    assert len(hidden) == 12
    assert np.mean(hidden[-3:]) < np.mean(hidden[:3]), hidden
    assert set(distiller._projections().hidden) == {"1_1", "2_3"}
    reloaded = load_teacher(str(tmp_path / "shallow"))[0]
    assert reloaded.config.encoder_config.num_hidden_layers == 2
    with pytest.raises(ValueError, match="out of range"):
        Distiller(
            teacher,
            teacher_extractor,
            student=student,
            student_feature_extractor=teacher_extractor,
            hidden_layer_pairs=[(3, 1)],
        )


@pytest.mark.parametrize("family", ["mobilenet_v2", "resnet", "convnext"])
def test_width_multiplier_narrows_cnn_students(family):
    config = tiny_random_backbone_config(family)
    narrow = scale_backbone_width(config, 0.5)
    assert narrow is not config
    if family == "mobilenet_v2":
        assert narrow.depth_multiplier == config.depth_multiplier * 0.5
        assert narrow.finegrained_output is False
    else:
        assert all(
            n % 8 == 0 and n <= w
            for n, w in zip(narrow.hidden_sizes, config.hidden_sizes, strict=True)
        )
    full = build_cnn_model(f"tiny-random-cnn-{family}", num_labels=3)
    small = build_cnn_model(f"tiny-random-cnn-{family}", num_labels=3, width_multiplier=0.5)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(small) < count(full)
    assert small(torch.randn(2, 1, 3, 32, 32)).logits.shape == (2, 3)


def test_width_multiplier_one_keeps_every_family_buildable():
    # scale_backbone_width(1.0) is a plain copy, also for families it cannot scale.
    config = tiny_random_backbone_config("efficientnet")
    assert scale_backbone_width(config, 1.0).to_dict() == config.to_dict()
    model = build_cnn_model("random:google/efficientnet-b0", num_labels=3)
    assert model.config.backbone_config.model_type == "efficientnet"


def test_width_multiplier_checks():
    with pytest.raises(ValueError, match="fixed width"):
        build_cnn_model("microsoft/resnet-18", num_labels=3, width_multiplier=0.5)
    with pytest.raises(ValueError, match="positive"):
        scale_backbone_width(tiny_random_backbone_config("resnet"), 0)
    with pytest.raises(ValueError, match="cannot scale"):
        scale_backbone_width(tiny_random_backbone_config("efficientnet"), 0.5)
    lstm = build_cnn_model("tiny-random-cnn-lstm", num_labels=3, width_multiplier=0.5)
    assert list(lstm.config.conv_channels) == [2, 4, 4, 8]
    mobile = build_cnn_model(
        "random:google/mobilenet_v2_1.0_224", num_labels=3, width_multiplier=0.35
    )
    assert sum(p.numel() for p in mobile.backbone.parameters()) < 1_000_000


# ---------------------------------------------------------------------------------------------
# The recipe


def _run_recipe(argv: list[str]) -> dict:
    path = PROJECT_ROOT / "recipes" / "distill_emodb.py"
    spec = importlib.util.spec_from_file_location("distill_emodb", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.main(argv)


@pytest.mark.parametrize(
    "student_args",
    [
        [
            "--student",
            "tiny-random-cnn-mobilenet_v2",
            "--width_multiplier",
            "0.5",
            "--n_mels",
            "32",
            "--segment_frames",
            "32",
            "--embedding_weight",
            "0.5",
        ],
        [
            "--student",
            "teacher-layers",
            "--teacher_layers",
            "0",
            "2",
            "--hidden_layer_pairs",
            "2:3",
        ],
    ],
    ids=["mobilenet", "teacher-layers"],
)
def test_distill_recipe_writes_a_student_that_reloads(
    corpus, teacher_dir, emodb_fixture, tmp_path, student_args
):
    output_dir = tmp_path / "student"
    report = _run_recipe(
        [
            "--teacher",
            str(teacher_dir),
            *student_args,
            "--data_dir",
            str(emodb_fixture),
            "--output_dir",
            str(output_dir),
            "--max_steps",
            "6",
            "--per_device_train_batch_size",
            "4",
            "--learning_rate",
            "3e-3",
            "--eval_strategy",
            "steps",
            "--eval_steps",
            "3",
            "--logging_steps",
            "1",
            "--test_speakers",
            "16",
            "--validation_speakers",
            "10",
            "--dataloader_num_workers",
            "0",
        ]
    )
    assert report["fold"]["test_speakers"] == ["16"]
    run_config = flat_run_config(json.loads((output_dir / "run_config.json").read_text()))
    assert run_config["teacher"] == str(teacher_dir)
    assert any("kd_soft" in r for r in _records(output_dir))
    student, _ = load_teacher(str(output_dir))
    assert student.config.id2label == load_teacher(str(teacher_dir))[0].config.id2label

    from transformers import pipeline

    classify = pipeline("audio-classification", model=str(output_dir))
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)).astype(np.float32)
    predictions = classify(at_model_rate(tone, 22050), top_k=2)
    assert len(predictions) == 2
    assert {p["label"] for p in predictions} <= set(corpus.features["label"].names)


def test_distill_recipe_starts_the_student_from_a_cnn_run(
    corpus, teacher_dir, emodb_fixture, tmp_path, caplog
):
    # A CNN trained on other labels (calm is not an EMO-DB class): its backbone is kept and,
    # with --reinit_head, none of its head.
    source_dir = tmp_path / "cnn-run"
    source = build_tiny_random_cnn_model(
        "resnet", id2label={0: "calm", 1: "angry", 2: "sad"}, seed=3
    )
    source.save_pretrained(source_dir)
    output_dir = tmp_path / "student"
    caplog.set_level("INFO")
    _run_recipe(
        [
            "--teacher",
            str(teacher_dir),
            "--student",
            str(source_dir),
            "--reinit_head",
            "--n_mels",
            "32",
            "--segment_frames",
            "32",
            "--data_dir",
            str(emodb_fixture),
            "--output_dir",
            str(output_dir),
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--test_speakers",
            "16",
            "--validation_speakers",
            "10",
            "--dataloader_num_workers",
            "0",
        ]  # fmt: skip
    )
    student, _ = load_teacher(str(output_dir))
    assert student.config.id2label == load_teacher(str(teacher_dir))[0].config.id2label
    assert student.config.backbone_config.hidden_sizes == source.config.backbone_config.hidden_sizes
    assert f"starting from {source_dir}: kept " in caplog.text
    assert "head tensors kept: none" in caplog.text
    assert "classifier rows kept: none" in caplog.text


def test_resumed_distillation_reaches_the_same_student(corpus, teacher_dir, tmp_path):
    from safetensors.torch import load_file

    from sertune.training import latest_checkpoint

    train_set, _, _ = _split(corpus)

    def run(output_dir: Path, **options):
        teacher, teacher_extractor = load_teacher(str(teacher_dir))
        student = _cnn_student(corpus)
        distiller = Distiller(
            teacher,
            teacher_extractor,
            student=student,
            student_feature_extractor=_log_mel(),
            alpha=0.6,
            embedding_weight=1.0,
        )
        train(
            student,
            _log_mel(),
            train_dataset=train_set,
            eval_dataset=None,
            test_dataset=None,
            config=_settings(output_dir, save_steps=3, save_total_limit=5, **options),
            distillation=distiller,
        )
        return distiller

    uninterrupted = tmp_path / "uninterrupted"
    run(uninterrupted)
    assert latest_checkpoint(uninterrupted).name == "step-6"
    resumed = tmp_path / "resumed"
    distiller = run(resumed, resume_from_checkpoint=str(uninterrupted / "checkpoints" / "step-3"))
    assert distiller._projections().embedding is not None

    embedding = lambda d: [r["kd_embedding"] for r in _records(d) if "kd_embedding" in r]  # noqa: E731
    # The resumed run logs steps 4 to 8 after the restored ones: the projection was restored.
    assert embedding(resumed) == embedding(uninterrupted)
    expected = load_file(uninterrupted / "model.safetensors")
    actual = load_file(resumed / "model.safetensors")
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)


def test_a_cnn_teacher_distils_into_a_narrower_cnn_with_embedding_matching(corpus, tmp_path):
    """Either family can teach: a CNN-LSTM teacher, a half-width MobileNetV2 student."""
    train_set, validation, test = _split(corpus)
    teacher_dir = tmp_path / "cnn-teacher"
    teacher = build_cnn_model("tiny-random-cnn-lstm", id2label=_id2label(corpus), seed=4)
    train(
        teacher,
        _log_mel(),
        train_dataset=train_set,
        eval_dataset=None,
        test_dataset=None,
        config=_settings(teacher_dir, max_steps=4),
    )
    student = build_cnn_model(
        "tiny-random-cnn-mobilenet_v2", id2label=_id2label(corpus), width_multiplier=0.5
    )
    result, distiller, _ = _distil(
        corpus,
        teacher_dir,
        tmp_path / "student",
        student=student,
        extractor=LogMelFeatureExtractor(n_mels=32, segment_frames=32, segment_hop_frames=16),
        alpha=0.8,
        embedding_weight=1.0,
        options={"max_steps": 6},
    )
    assert type(distiller.teacher).__name__ == "CnnLstmForAudioClassification"
    assert distiller._projections().embedding.in_features != (
        distiller._projections().embedding.out_features
    )
    records = [r for r in _records(tmp_path / "student") if "kd_embedding" in r]
    assert len(records) == 6
    reloaded, _ = load_teacher(str(tmp_path / "student"))
    assert type(reloaded).__name__ == "CnnSerForAudioClassification"


@pytest.fixture
def fresh_accelerator_state():
    """Accelerate keeps one state per process; a test with other precision needs a fresh one."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.mark.parametrize("student_kind", ["cnn", "teacher-layers"])
def test_feature_matching_runs_under_bf16_mixed_precision(
    corpus, teacher_dir, tmp_path, student_kind, fresh_accelerator_state
):
    # Under autocast the student's features come out in bfloat16; the projections are float32.
    teacher, teacher_extractor = load_teacher(str(teacher_dir))
    if student_kind == "cnn":
        student, extractor = _cnn_student(corpus), _log_mel()
        matching = {"embedding_weight": 1.0}
    else:
        student, extractor = student_from_teacher_layers(teacher, [0, 2]), teacher_extractor
        matching = {"embedding_weight": 1.0, "hidden_layer_pairs": [(2, 3)]}
    result, distiller, _ = _distil(
        corpus,
        teacher_dir,
        tmp_path / "bf16",
        student=student,
        extractor=extractor,
        options={"max_steps": 3, "mixed_precision": "bf16"},
        **matching,
    )
    assert result.global_step == 3
    records = [r for r in _records(tmp_path / "bf16") if "kd_embedding" in r]
    assert len(records) == 3 and all(np.isfinite(r["loss"]) for r in records)


def test_utterances_shorter_than_the_teachers_receptive_field_are_padded(teacher_dir, tmp_path):
    from sertune.training.data import min_input_samples

    from corpus_fixtures import write_emodb

    # A third of the utterances last 10 ms: enough for the CNN student, not for the teacher.
    root = write_emodb(tmp_path / "short", seconds=0.01)
    short = load_corpus("emodb", root)
    teacher, _ = load_teacher(str(teacher_dir))
    assert min_input_samples(teacher.config) > 160  # 10 ms at 16 kHz
    assert min_input_samples(_cnn_student(short).config, training=True) < 160
    result, distiller, _ = _distil(
        short, teacher_dir, tmp_path / "run", alpha=1.0, options={"max_steps": 2}
    )
    assert result.global_step == 2 and distiller.teacher_batches_run == 2
