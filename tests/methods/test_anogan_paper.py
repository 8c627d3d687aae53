"""AnoGAN paper glue: retina band, patch extraction and labels (§3), Youden statistics of
Table 1 against a hand-computed ROC, the score cache, and Figures 3 and 4 on tiny data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from reprolib.experiment import Evaluation, MethodSpec
from reprolib.methods import Scores
from reprolib.papers import anogan as paper
from reprolib.results import ResultRecorder

TINY = {"img_size": 32, "widths": [8, 8, 8, 8], "z_dim": 6, "epochs": 1, "batch_size": 8}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one torch thread


class BandScans(Dataset):
    """B-scans in [-1, 1]: a bright band on rows 40-79 of 128; lesions (dark, masked) in the
    band of the anomalous scans."""

    def __init__(self, n: int = 4, anomalous: int = 0, masks: bool = True, size: int = 128):
        gen = torch.Generator().manual_seed(n + anomalous)
        self.images = torch.full((n, 1, size, size), -0.9) + 0.05 * torch.rand(
            n, 1, size, size, generator=gen)
        self.images[:, :, 40:80] += 1.4
        self.masks = torch.zeros(n, 1, size, size)
        for i in range(n - anomalous, n):
            self.masks[i, :, 50:62, 20 + 10 * i:34 + 10 * i] = 1
            self.images[i][self.masks[i] > 0] = -0.8
        self.labels = np.array([0] * (n - anomalous) + [1] * anomalous)
        self.has_masks = masks
        self.img_size, self.channels, self.name = size, 1, "band_scans"
        self.fingerprint = {"name": "band_scans", "n": n, "anomalous": anomalous,
                            "masks": masks}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        mask = self.masks[i] if self.has_masks else torch.zeros_like(self.masks[i])
        return {"image": self.images[i], "label": int(self.labels[i]), "mask": mask,
                "has_mask": self.has_masks, "sublabel": "", "id": f"scan{i}"}


def test_retina_band_finds_the_bright_rows() -> None:
    top, bottom = paper.retina_band(BandScans(1).images[0])
    assert abs(top - 40) <= 2 and abs(bottom - 79) <= 2
    with pytest.raises(ValueError, match="expected an image"):
        paper.retina_band(np.zeros(5))


def test_patches_lie_in_the_band_and_are_labelled_by_the_mask() -> None:
    train = paper.extract_patches(BandScans(4), patch_size=32, per_image=10, split="train")
    assert len(train) == 40 and train[0]["image"].shape == (1, 32, 32)
    assert (train.labels == 0).all()
    centres = [int(i.split("@")[1].split(",")[0]) + 16 for i in train.ids]
    assert min(centres) >= 38 and max(centres) <= 82
    test = paper.extract_patches(BandScans(4, anomalous=2), patch_size=32, per_image=6,
                                 lesion_share=0.5, split="test")
    has_lesion = test.masks.flatten(1).any(1).numpy()
    np.testing.assert_array_equal(test.labels, has_lesion.astype(int))
    assert test.labels[:12].sum() == 0 and test.labels[12:].sum() >= 6
    no_masks = paper.extract_patches(BandScans(4, anomalous=2, masks=False), patch_size=32,
                                     per_image=3, split="test")
    np.testing.assert_array_equal(no_masks.labels, [0] * 6 + [1] * 6)  # the scan's label
    other = paper.extract_patches(BandScans(4), patch_size=32, per_image=10, seed=1,
                                  split="train")
    assert other.fingerprint != train.fingerprint
    sub = train.subset([3, 1], "probe")
    assert sub.ids == [train.ids[3], train.ids[1]] and sub.fingerprint != train.fingerprint


def test_youden_statistics_against_a_hand_computed_roc() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.3, 0.35, 0.8, 0.4, 0.7, 0.9])
    # by hand, "anomalous" = score >= t: t=0.4 gives TPR 3/3, FPR 1/4 -> J = 0.75 (the best;
    # t=0.7: TPR 2/3, FPR 1/4 -> 0.417; t=0.9: 1/3 - 0 = 0.333; t=0.35: 1 - 2/4 = 0.5)
    # TP 3, FP 1 (0.8), TN 3, FN 0
    ev = fake_evaluation("anogan", labels, scores)
    recorder = ResultRecorder("anogan", "t1", "anogan_t1_clinical_stats", "test")
    paper.record_table1(recorder, {("anogan", 0): ev})
    table = paper.table1_frame(recorder.frame())
    row = table.loc["anogan"]
    assert row["precision"] == pytest.approx(3 / 4)
    assert row["recall"] == pytest.approx(1.0) and row["sen"] == pytest.approx(1.0)
    assert row["spe"] == pytest.approx(3 / 4)
    # AUC: ordered (anomalous, normal) pairs: 0.4 beats 3, 0.7 beats 3, 0.9 beats 4 -> 10 / 12
    assert row["auroc"] == pytest.approx(10 / 12)
    frame = recorder.frame()
    assert set(frame["threshold_policy"]) == {"youden", "none"}
    assert set(frame["protocol"]) == {"oct_patch_fluid"}


def fake_evaluation(name: str, labels: np.ndarray, scores: np.ndarray,
                    extra: dict[str, np.ndarray] | None = None) -> Evaluation:
    class Labelled:
        def __init__(self) -> None:
            self.labels = labels
            self.has_masks = False

    class FakeMethod:
        config = type("C", (), {"img_size": 64, "epochs": 1})()
        fit_seconds = 1.0
        weights_used = "none"

        def data_spec(self) -> dict:
            return {"img_size": 64}

    return Evaluation(MethodSpec(name), "band_scans", 0, FakeMethod(), Labelled(),  # type: ignore[arg-type]
                      Scores(scores, extra=extra or {}), None, 0.5)


def test_tiny_run_table_figures_and_score_cache(isolated_dirs, monkeypatch, tmp_path) -> None:
    train = paper.extract_patches(BandScans(4), patch_size=32, per_image=4, split="train")
    test = paper.extract_patches(BandScans(4, anomalous=2), patch_size=32, per_image=3,
                                 lesion_share=0.5, split="test")
    sets = paper.PatchSets("band_scans", train, test, train.subset([0, 1, 2], "scored"))
    specs = paper.method_specs(TINY, {"map_steps": 2}, {"rec_weight": 10.0})
    assert [s.method for s in specs] == ["acae", "p_d", "gan_r", "anogan"]
    evaluations = paper.evaluate_all(specs, sets, seeds=[0], device="cpu")
    recorder = ResultRecorder("anogan", "t1", "anogan_t1_clinical_stats", "test")
    paper.record_table1(recorder, evaluations)
    assert list(paper.table1_frame(recorder.frame()).index) == ["acae", "p_d", "gan_r", "anogan"]
    f4 = ResultRecorder("anogan", "f4", "anogan_f4_score_components", "test")
    paper.record_figure4(f4, evaluations)
    variants = set(f4.frame()["variant"])
    assert variants == {"", "residual", "discrimination", "discrimination_ref"}
    paper.figure4(evaluations, path=tmp_path / "f4.png")
    examples = paper.pick_examples(sets, per_group=1)
    paper.figure3(evaluations[("anogan", 0)].method, sets, examples, path=tmp_path / "f3.png")
    assert (tmp_path / "f4.png").exists() and (tmp_path / "f3.png").exists()

    # the second notebook reads the scores back instead of mapping again
    def refuse(*args: object) -> None:
        raise AssertionError("scored twice")

    from reprolib.methods.anogan.method import AnoGAN
    monkeypatch.setattr(AnoGAN, "score", refuse)
    again = paper.evaluate_patches(specs[3], sets, seed=0, device="cpu")
    first = evaluations[("anogan", 0)]
    np.testing.assert_array_equal(again.scores.image, first.scores.image)
    np.testing.assert_array_equal(again.scores.maps, first.scores.maps)  # not rounded on a hit
    np.testing.assert_array_equal(again.val_scores.image, first.val_scores.image)
    assert again.method.from_cache and again.score_seconds == first.score_seconds
    assert list(Path(again.method.cache_path).parent.glob("*.scores-*.npz"))  # beside the model


def test_model_lock_is_per_model_not_per_training_set(isolated_dirs) -> None:
    """Two profiles' models on the same patches must not wait for each other (a long-cpu run
    training on the OCT phantom once held the default run's AnoGAN notebook for minutes); the
    same model in two notebooks shares one lock, so its patches are mapped once."""
    import fcntl

    from reprolib.atomic import exclusive
    from reprolib.paths import cache_dir

    train = paper.extract_patches(BandScans(4), patch_size=32, per_image=2, split="train")
    sets = paper.PatchSets("band_scans", train, train, train.subset([0], "scored"))
    short = MethodSpec("anogan", {**TINY, "map_steps": 2})
    longer = MethodSpec("anogan", {**TINY, "map_steps": 500})
    name = paper.model_lock_name(short, sets, 0)
    assert name == paper.model_lock_name(MethodSpec("anogan", {**TINY, "map_steps": 2}), sets, 0)
    others = {paper.model_lock_name(longer, sets, 0), paper.model_lock_name(short, sets, 1),
              paper.model_lock_name(MethodSpec("gan_r", short.config), sets, 0)}
    assert name not in others and len(others) == 3
    with exclusive(name):
        for other in others:  # free while the first model's lock is held
            with open(cache_dir() / "locks" / f"{other}.lock", "w") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
        with open(cache_dir() / "locks" / f"{name}.lock", "w") as handle, \
                pytest.raises(BlockingIOError):  # the same model's lock is taken
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
