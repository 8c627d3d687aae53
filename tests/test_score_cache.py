"""The score cache beside each cached model (reprolib/score_cache.py): what it stores comes
back bit for bit, a rerun does not score again, and another test set is scored anew."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reprolib import score_cache
from reprolib.experiment import evaluate
from reprolib.methods import Scores

OPTIONS = {"n_train": 6, "n_test": 8}
KNN = {"method": "knn_pixels", "config": {"img_size": 32}}


def test_round_trip_keeps_maps_extras_and_validation_scores(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    test = Scores(image=rng.random(5), maps=rng.random((5, 4, 4)).astype(np.float32),
                  extra={"latent": rng.random(5), "image_space": rng.random(5)})
    val = Scores(image=rng.random(3), extra={"latent": rng.random(3)})
    path = tmp_path / "m.scores-x.npz"
    score_cache.save(path, test, val, 1.5)
    scores, val_scores, seconds = score_cache.load(path, 5)
    np.testing.assert_array_equal(scores.image, test.image)
    np.testing.assert_array_equal(scores.maps, test.maps)
    assert scores.maps.dtype == np.float32
    assert set(scores.extra) == {"latent", "image_space"}
    np.testing.assert_array_equal(scores.extra["latent"], test.extra["latent"])
    np.testing.assert_array_equal(val_scores.extra["latent"], val.extra["latent"])
    assert val_scores.maps is None and seconds == 1.5
    assert score_cache.load(path, 6) is None  # another test set's length: score again
    score_cache.save(path, test, None, 2.0)
    assert score_cache.load(path, 5)[1] is None
    path.write_bytes(b"not an npz")
    assert score_cache.load(path, 5) is None
    assert score_cache.load(tmp_path / "missing.npz", 5) is None


def test_evaluate_scores_a_cached_model_once(isolated_dirs: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    first = evaluate(KNN, "phantom_cxr", options=OPTIONS, device="cpu")
    assert first.scores.maps is not None
    assert list(Path(first.method.cache_path).parent.glob("*.scores-*.npz"))

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("scored again")

    monkeypatch.setattr(type(first.method), "score", fail)
    second = evaluate(KNN, "phantom_cxr", options=OPTIONS, device="cpu")
    np.testing.assert_array_equal(second.scores.image, first.scores.image)
    np.testing.assert_array_equal(second.scores.maps, first.scores.maps)
    np.testing.assert_array_equal(second.val_scores.image, first.val_scores.image)
    assert second.score_seconds == first.score_seconds
    with pytest.raises(AssertionError, match="scored again"):  # another test set
        evaluate(KNN, "phantom_cxr", options={**OPTIONS, "n_test": 10}, device="cpu")


def test_a_cached_evaluation_leaves_the_nets_in_eval_mode(isolated_dirs: Path) -> None:
    """Figures run the nets of ``ev.method`` (ProxyAno's Fig. 7, AnoGAN's Fig. 3): after a score
    cache hit they must be in the state scoring leaves them in (BatchNorm frozen), else a
    figure changes with whether the scores came from the cache."""
    spec = {"method": "ae", "config": {"img_size": 32, "steps": 2, "batch_size": 4}}
    first = evaluate(spec, "phantom_cxr", options=OPTIONS, device="cpu")
    second = evaluate(spec, "phantom_cxr", options=OPTIONS, device="cpu")
    assert second.method.from_cache
    modules = list(second.method.modules().values())
    assert modules and not any(m.training for module in modules for m in module.modules())
    np.testing.assert_array_equal(second.scores.image, first.scores.image)
