"""The GAN baselines that ProxyAno's Table I reuses (``anogan`` on whole images, ``f_anogan``,
``ganomaly``) train and score whole 64-px images: one epoch on tiny networks gives finite
scores (N,) and maps (N, 64, 64). (No ordering is asserted: one epoch guarantees none.)"""

from __future__ import annotations

import numpy as np
import pytest
from recon_testkit import SquaresSet

from reprolib.methods import create_method

SIZE = 64
CONFIGS = {
    "anogan": {"img_size": SIZE, "patch_size": 0, "widths": [4, 4, 4, 4], "z_dim": 6,
               "epochs": 1, "batch_size": 4, "map_steps": 2},
    "f_anogan": {"img_size": SIZE, "z_dim": 8, "dim": 4, "epochs": 1, "encoder_epochs": 1,
                 "batch_size": 4, "n_critic": 2},
    "ganomaly": {"img_size": SIZE, "latent": 8, "base_width": 4, "epochs": 1, "batch_size": 4},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_whole_64px_images(name: str, isolated_dirs) -> None:
    method = create_method(name, CONFIGS[name], device="cpu")
    assert method.data_spec()["img_size"] == SIZE
    data = SquaresSet(n=6, size=SIZE, unit=method.normalize == "unit")
    method.fit(data)
    scores = method.score(data)
    assert scores.image.shape == (6,) and np.isfinite(scores.image).all()
    assert scores.maps is not None and scores.maps.shape == (6, SIZE, SIZE)
    assert np.isfinite(scores.maps).all()
