"""Class weights, focal loss and the criterion factory, checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sertune.training.losses import (
    FocalLoss,
    class_counts,
    class_weights_from_counts,
    make_criterion,
)

# Two examples, three classes: a fairly confident correct one and a wrong one.
LOGITS = [[1.0, 2.0, 0.5], [0.2, -1.0, 3.0]]
LABELS = [1, 0]


def softmax(row):
    exps = [math.exp(v) for v in row]
    return [e / sum(exps) for e in exps]


def logits_labels():
    return torch.tensor(LOGITS, requires_grad=True), torch.tensor(LABELS)


def test_cross_entropy_matches_hand_computation():
    p0, p1 = softmax(LOGITS[0]), softmax(LOGITS[1])
    # -log p of the target class, averaged over the two examples.
    expected = (-math.log(p0[1]) - math.log(p1[0])) / 2
    logits, labels = logits_labels()
    assert make_criterion("cross_entropy")(logits, labels).item() == pytest.approx(expected)


def test_focal_matches_hand_computation():
    p0, p1 = softmax(LOGITS[0]), softmax(LOGITS[1])
    # -(1 - p_y)^gamma * log p_y with gamma = 2.
    per_example = [
        -((1 - p0[1]) ** 2) * math.log(p0[1]),
        -((1 - p1[0]) ** 2) * math.log(p1[0]),
    ]
    logits, labels = logits_labels()
    loss = FocalLoss(gamma=2.0, reduction="none")(logits, labels)
    assert loss.tolist() == pytest.approx(per_example)
    assert FocalLoss(gamma=2.0)(logits, labels).item() == pytest.approx(sum(per_example) / 2)
    assert FocalLoss(gamma=2.0, reduction="sum")(logits, labels).item() == pytest.approx(
        sum(per_example)
    )


def test_weighted_focal_mean_divides_by_target_weights():
    alpha = [3.0, 1.0, 0.5]
    p0, p1 = softmax(LOGITS[0]), softmax(LOGITS[1])
    # Example 0 is class 1 (alpha 1.0), example 1 is class 0 (alpha 3.0).
    focal0 = -((1 - p0[1]) ** 2) * math.log(p0[1])
    focal1 = -((1 - p1[0]) ** 2) * math.log(p1[0])
    weighted = 1.0 * focal0 + 3.0 * focal1
    logits, labels = logits_labels()
    loss = FocalLoss(gamma=2.0, alpha=alpha)(logits, labels)
    assert loss.item() == pytest.approx(weighted / (1.0 + 3.0))


def test_focal_with_label_smoothing_matches_hand_computation():
    eps, gamma = 0.3, 1.5
    p0 = softmax(LOGITS[0])
    # Smoothed target of class 1 among 3: q = (0.1, 0.8, 0.1).
    q = [eps / 3, 1 - eps + eps / 3, eps / 3]
    expected = -sum(q[c] * (1 - p0[c]) ** gamma * math.log(p0[c]) for c in range(3))
    logits = torch.tensor([LOGITS[0]])
    loss = FocalLoss(gamma=gamma, label_smoothing=eps)(logits, torch.tensor([1]))
    assert loss.item() == pytest.approx(expected)


@pytest.mark.parametrize("weight", [None, [3.0, 1.0, 0.5]])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_focal_with_gamma_zero_is_cross_entropy(weight, smoothing, reduction):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 3, generator=generator) * 3
    labels = torch.tensor([0, 1, 2, 2, 1, 0, 2])
    focal = FocalLoss(gamma=0.0, alpha=weight, label_smoothing=smoothing, reduction=reduction)
    reference = F.cross_entropy(
        logits,
        labels,
        weight=None if weight is None else torch.tensor(weight),
        label_smoothing=smoothing,
        reduction=reduction,
    )
    torch.testing.assert_close(focal(logits, labels), reference)


def test_focal_down_weights_confident_correct_examples():
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.5, 0.0]])
    labels = torch.tensor([0, 0])
    p = softmax([4.0, 0.0, 0.0])[0]
    cross_entropy = F.cross_entropy(logits, labels, reduction="none")
    focal = FocalLoss(gamma=2.0, reduction="none")(logits, labels)
    # The easy example keeps only (1 - p)^2 = 0.0012 of its cross-entropy...
    assert (focal[0] / cross_entropy[0]).item() == pytest.approx((1 - p) ** 2, rel=1e-4)
    assert (1 - p) ** 2 < 0.002
    # ... the hard one (p ~ 0.27) keeps about half: the loss now comes from hard examples.
    assert (focal[1] / cross_entropy[1]).item() > 0.5


def test_class_weights_balanced():
    # n = 100 examples in K = 3 classes: w_c = n / (K * n_c) = 100 / 30, 100 / 90, 100 / 180.
    weights = class_weights_from_counts([10, 30, 60], "balanced")
    assert weights.dtype == torch.float32
    assert weights.tolist() == pytest.approx([3.3333333, 1.1111111, 0.5555556])
    # Each class carries the same total weight, n / K.
    assert (weights * torch.tensor([10.0, 30.0, 60.0])).tolist() == pytest.approx([100 / 3] * 3)


def test_class_weights_inverse_sqrt():
    # w_c = n / (sqrt(n_c) * sum_j sqrt(n_j)), sum_j sqrt(n_j) = 3.1623 + 5.4772 + 7.7460.
    roots = math.sqrt(10) + math.sqrt(30) + math.sqrt(60)
    expected = [100 / (math.sqrt(n) * roots) for n in (10, 30, 60)]
    assert expected == pytest.approx([1.9299, 1.1142, 0.7879], abs=1e-4)
    weights = class_weights_from_counts([10, 30, 60], "inverse_sqrt")
    assert weights.tolist() == pytest.approx(expected)
    # The mean weight over the training examples is 1, as for "balanced".
    assert float(weights @ torch.tensor([10.0, 30.0, 60.0])) == pytest.approx(100.0)


def test_class_weights_refuse_absent_classes():
    with pytest.raises(ValueError, match=r"class\(es\) 1 \('sad'\), 3 \('fear'\).*--labels"):
        class_weights_from_counts([4, 0, 2, 0], label_names=["angry", "sad", "happy", "fear"])
    with pytest.raises(ValueError, match=r"class\(es\) 0 have no training examples"):
        class_weights_from_counts([0, 5])
    with pytest.raises(ValueError, match="unknown class weight scheme 'sqrt'.*inverse_sqrt"):
        class_weights_from_counts([1, 2], "sqrt")


def test_class_counts():
    counts = class_counts([0, 2, 2, 1, 2, 0], num_labels=4)
    assert counts.tolist() == [2, 1, 3, 0]
    assert counts.dtype == np.int64
    with pytest.raises(ValueError, match=r"labels must be in 0..2, found \[3, 7\]"):
        class_counts([0, 3, 7], num_labels=3)


def test_make_criterion_choices_and_errors():
    logits, labels = logits_labels()
    weights = class_weights_from_counts([10, 30, 60])
    weighted = make_criterion("cross_entropy", class_weights=weights, label_smoothing=0.1)
    reference = F.cross_entropy(logits, labels, weight=weights, label_smoothing=0.1)
    torch.testing.assert_close(weighted(logits, labels), reference)
    focal = make_criterion("focal", class_weights=weights, focal_gamma=1.0)
    assert isinstance(focal, FocalLoss)
    assert focal.gamma == 1.0
    torch.testing.assert_close(focal.alpha, weights)
    with pytest.raises(
        ValueError, match="unknown loss 'hinge'; choose one of cross_entropy, focal"
    ):
        make_criterion("hinge")
    with pytest.raises(ValueError, match="class_weights has 2 entries but logits have 3"):
        make_criterion(class_weights=[1.0, 2.0])(logits, labels)
    with pytest.raises(TypeError, match="one weight per class"):
        make_criterion("focal", class_weights=0.25)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        make_criterion(label_smoothing=1.0)
    with pytest.raises(ValueError, match="gamma must be at least 0"):
        make_criterion("focal", focal_gamma=-1.0)


@pytest.mark.parametrize("loss", ["cross_entropy", "focal"])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_gradients_are_finite_even_when_saturated(loss, gamma):
    # The first row saturates the softmax (p = 1 exactly in float32): (1 - p)^0.5 has an
    # infinite slope there.
    logits = torch.tensor([[200.0, 0.0, -50.0], [0.1, 0.2, 0.3]], requires_grad=True)
    criterion = make_criterion(loss, class_weights=[1.0, 2.0, 0.5], focal_gamma=gamma)
    value = criterion(logits, torch.tensor([0, 2]))
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[1].abs().sum() > 0


@pytest.mark.parametrize("loss", ["cross_entropy", "focal"])
def test_criterion_computes_in_float32_from_half_logits(loss):
    criterion = make_criterion(loss, class_weights=[1.0, 2.0, 0.5])
    logits, labels = logits_labels()
    value = criterion(logits.detach().to(torch.bfloat16), labels)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(criterion(logits, labels).item(), rel=2e-2)


def _devices():
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append(pytest.param("cuda", marks=pytest.mark.gpu))
    return devices


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("loss", ["cross_entropy", "focal"])
def test_criterion_follows_the_logits_device(device, loss):
    criterion = make_criterion(loss, class_weights=torch.tensor([1.0, 2.0, 0.5]))
    logits, labels = logits_labels()
    value = criterion(logits.detach().to(device), labels)  # labels stay on the CPU
    assert value.device.type == device
    expected = make_criterion(loss, class_weights=[1.0, 2.0, 0.5])(logits, labels)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)


def test_focal_loss_as_a_submodule_adds_no_saved_weights():
    model = torch.nn.Linear(4, 3)
    model.loss_fn = make_criterion("focal", class_weights=[1.0, 2.0, 0.5])
    assert set(model.state_dict()) == {"weight", "bias"}
