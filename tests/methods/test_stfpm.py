"""Tests of the STFPM baseline: feature shapes, loss and map against hand computation, frozen
teacher, eval-mode scoring, one-epoch fit + score at 64 px, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from distill_testkit import RGBSet

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.stfpm.model import stfpm_anomaly_map, stfpm_loss

# offline: no download attempts, the backbone falls back to random init, recorded as such
pytestmark = [pytest.mark.filterwarnings("ignore:.*ImageNet weights.*"),
              pytest.mark.usefixtures("offline")]


SMALL = {"img_size": 64, "epochs": 1, "batch_size": 4}


def test_teacher_and_student_feature_shapes() -> None:
    method = create_method("stfpm", SMALL, device="cpu")
    x = torch.rand(2, 3, 64, 64)
    teacher, student = method.teacher(x), method.student(x)
    shapes = {"layer1": (2, 64, 16, 16), "layer2": (2, 128, 8, 8), "layer3": (2, 256, 4, 4)}
    assert {k: tuple(v.shape) for k, v in teacher.items()} == shapes
    assert {k: tuple(v.shape) for k, v in student.items()} == shapes
    assert method.weights_used.startswith("random")  # offline: recorded, not hidden
    assert create_method("stfpm", {**SMALL, "weights": "random"}).weights_used == "random"


def test_loss_and_map_against_hand_computation() -> None:
    # layer a, pixel 0: teacher (3,4) -> (0.6,0.8), student (1,0): 1/2 (0.16 + 0.64) = 0.4;
    # pixel 1: (0,2) vs (0,5) -> same direction: 0. Pixel mean 0.2.
    # layer b, one pixel: (1,0) vs (0,1): 1/2 * 2 = 1.0. Loss = 1.2.
    teacher = {"a": torch.tensor([[[[3.0, 0.0]], [[4.0, 2.0]]]]),
               "b": torch.tensor([[[[1.0]], [[0.0]]]])}
    student = {"a": torch.tensor([[[[1.0, 0.0]], [[0.0, 5.0]]]]),
               "b": torch.tensor([[[[0.0]], [[1.0]]]])}
    loss = stfpm_loss(teacher, student, ["a", "b"])
    torch.testing.assert_close(loss, torch.tensor(1.2))
    amap = stfpm_anomaly_map(teacher, student, ["a", "b"], (1, 2))
    torch.testing.assert_close(amap, torch.tensor([[[0.4, 0.0]]]))  # product of 0.4|0 and 1|1


def test_fit_leaves_teacher_unchanged_and_scores_in_eval_mode() -> None:
    method = create_method("stfpm", SMALL, seed=0, device="cpu")
    before = {k: v.clone() for k, v in method.teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in method.student.state_dict().items()}
    method.fit(RGBSet())
    after = method.teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics included
    assert any(not torch.equal(student_before[k], v)
               for k, v in method.student.state_dict().items())
    assert len(method.history) == 1 and np.isfinite(method.history[0]["loss"])
    test = RGBSet(n=6, anomalous=2, seed=1)
    scores = method.score(test)
    assert scores.image.shape == (6,) and scores.maps.shape == (6, 64, 64)
    assert np.all(scores.maps >= 0)
    np.testing.assert_allclose(scores.image, scores.maps.reshape(6, -1).max(axis=1))
    assert not method.student.training and not method.teacher.training
    # eval mode: an image's score does not depend on its batch
    method.config = method.config.replace(batch_size=1)
    np.testing.assert_allclose(method.score(test).image, scores.image, rtol=1e-5)


def test_save_load_roundtrip(tmp_path) -> None:
    method = create_method("stfpm", SMALL, seed=0, device="cpu").fit(RGBSet())
    path = method.save(tmp_path / "stfpm.pt")
    again = create_method("stfpm", SMALL, seed=5, device="cpu").load(path)
    assert again.weights_used == method.weights_used
    data = RGBSet(n=2, seed=3)
    np.testing.assert_allclose(again.score(data).image, method.score(data).image, rtol=1e-6)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="in_channels"):
        create_method("stfpm", {"in_channels": 1})
    with pytest.raises(ConfigError, match="multiple of 32"):
        create_method("stfpm", {"img_size": 100})
    with pytest.raises(ConfigError, match="layers"):
        create_method("stfpm", {"layers": ["layer7"]})
    with pytest.raises(ConfigError, match="backbone"):
        create_method("stfpm", {"backbone": "vgg16"})
    with pytest.raises(ConfigError, match="unknown config key"):
        create_method("stfpm", {"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="'weights'"):
        create_method("stfpm", {"weights": "imagenet21k"})


def test_wrong_image_shape_is_a_clear_error() -> None:
    method = create_method("stfpm", SMALL, device="cpu")

    class Gray(RGBSet):
        def __getitem__(self, i: int) -> dict:
            item = super().__getitem__(i)
            item["image"] = item["image"][:1]
            return item

    with pytest.raises(ValueError, match=r"expected \(B, 3, 64, 64\)"):
        method.score(Gray(n=2))
