"""AnoGAN as MDFSC's baseline: whole fundus phantom images (phantom_eyeq, colour) at 64 px,
networks sized for the whole image (``patch_size: 0``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reprolib.data import get_dataset
from reprolib.methods import create_method

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = {"img_size": 64, "in_channels": 3, "widths": [8, 8, 8, 8], "z_dim": 6, "epochs": 1,
          "batch_size": 4, "map_steps": 2, "map_batch_size": 3}


def test_anogan_scores_whole_fundus_images_at_64px(isolated_dirs) -> None:
    method = create_method("anogan", CONFIG, seed=0, device="cpu")
    spec = method.data_spec()
    assert spec == {"img_size": 64, "channels": 3, "normalize": "tanh"}
    train = get_dataset("phantom_eyeq", "train", n_train=6, n_test=4, **spec)
    test = get_dataset("phantom_eyeq", "test", n_train=6, n_test=4, **spec)
    assert train[0]["image"].shape == (3, 64, 64)
    method.fit(train)
    # the DCGAN sees the whole image: G makes 64 x 64 colour images, D takes them
    assert method.generator(torch.zeros(1, 6)).shape == (1, 3, 64, 64)
    assert method.discriminator(torch.zeros(2, 3, 64, 64)).shape == (2,)
    assert method.history and np.isfinite(method.history[-1]["loss_d"])
    scores = method.score(test)
    assert scores.image.shape == (len(test),) and np.isfinite(scores.image).all()
    assert scores.maps is not None and scores.maps.shape == (len(test), 64, 64)
    assert {"residual", "discrimination"} <= set(scores.extra)
