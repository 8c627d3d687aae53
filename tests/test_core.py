"""Configs, registry, seeding, training loop, model cache (DESIGN §5, §7)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reprolib.cache import code_version, fit_or_load
from reprolib.config import ConfigError, MethodConfig, build_config, stable_hash
from reprolib.denormals import flush_denormals
from reprolib.methods import UnknownMethodError, available_methods, create_method
from reprolib.training import (
    NonFiniteLossError,
    make_loader,
    resolve_device,
    run_epochs,
    seed_everything,
)


@dataclasses.dataclass
class ExampleConfig(MethodConfig):
    size: int = 64
    lr: float = 1e-3
    widths: tuple[int, ...] = (8, 16)
    mode: str = "a"
    note: str | None = None


def test_config_accepts_and_coerces() -> None:
    config = build_config(ExampleConfig, {"size": 32, "lr": 1, "widths": [4, 8]})
    assert config == ExampleConfig(size=32, lr=1.0, widths=(4, 8))
    assert isinstance(config.lr, float)
    assert config.replace(size=16).size == 16


@pytest.mark.parametrize(("values", "message"), [
    ({"sise": 3}, "unknown config key 'sise'"),
    ({"size": "64"}, "config key 'size': expected int"),
    ({"size": 6.5}, "config key 'size': expected int"),
    ({"lr": True}, "config key 'lr': expected float"),
    ({"widths": [8, "x"]}, "config key 'widths[1]': expected int"),
    ({"widths": 8}, "config key 'widths': expected a tuple"),
    ({"note": 3}, "config key 'note'"),
])
def test_config_errors_name_the_key(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_config(ExampleConfig, values)


def test_stable_hash_ignores_key_order() -> None:
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_registry_knows_reference_method_and_rejects_unknown() -> None:
    assert "conv_ae" in available_methods()
    with pytest.raises(UnknownMethodError, match="unknown method 'nope'; known methods: .*conv_ae"):
        create_method("nope")


def test_wrong_config_fails_before_training() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'epoch'"):
        create_method("conv_ae", {"epoch": 3})
    with pytest.raises(ConfigError, match="divisible"):
        create_method("conv_ae", {"img_size": 30})


def test_device_choice() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="expected 'auto'"):
        resolve_device("tpu")


def test_seeded_training_is_bitwise_repeatable(tiny_dataset) -> None:
    def train_once() -> list[torch.Tensor]:
        method = create_method("conv_ae", {"img_size": 32, "epochs": 2, "batch_size": 4,
                                           "widths": [8, 16], "latent": 4}, seed=3)
        method.fit(tiny_dataset)
        return [p.detach().clone() for p in method.net.parameters()]

    first, second = train_once(), train_once()
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_run_epochs_stops_on_nan_with_epoch_and_step(tiny_dataset) -> None:
    loader = make_loader(tiny_dataset, 4, shuffle=False)
    calls = iter(range(100))

    def step(batch: dict) -> dict[str, torch.Tensor]:
        return {"mse": torch.tensor(float("nan") if next(calls) == 2 else 1.0)}

    with pytest.raises(NonFiniteLossError, match="'mse' became nan at epoch 2, step 1"):
        run_epochs(step, loader, epochs=3, desc="t")


def test_run_epochs_records_means(tiny_dataset) -> None:
    loader = make_loader(tiny_dataset, 4, shuffle=False)
    history = run_epochs(lambda b: {"x": float(b["image"].shape[0])}, loader, 2, desc="t")
    seconds = [record.pop("seconds") for record in history]
    assert history == [{"epoch": 1.0, "x": 4.0, "steps": 2}, {"epoch": 2.0, "x": 4.0, "steps": 4}]
    assert 0 <= seconds[0] <= seconds[1]


def test_seed_everything_rejects_non_int() -> None:
    with pytest.raises(TypeError, match="expected an int"):
        seed_everything("1")  # type: ignore[arg-type]


def test_model_cache_trains_once_and_reloads(tiny_dataset, isolated_dirs) -> None:
    config = {"img_size": 32, "epochs": 1, "batch_size": 4, "widths": [8, 16], "latent": 4}
    first = fit_or_load("conv_ae", config, tiny_dataset, seed=0, device="cpu")
    assert not first.from_cache and first.cache_path.exists()
    second = fit_or_load("conv_ae", config, tiny_dataset, seed=0, device="cpu")
    assert second.from_cache and second.cache_path == first.cache_path
    assert second.history == first.history
    for a, b in zip(first.net.parameters(), second.net.parameters()):
        assert torch.equal(a, b)
    assert torch.allclose(torch.tensor(first.score(tiny_dataset).image),
                          torch.tensor(second.score(tiny_dataset).image))
    other_seed = fit_or_load("conv_ae", config, tiny_dataset, seed=1, device="cpu")
    assert not other_seed.from_cache and other_seed.cache_path != first.cache_path
    assert code_version("conv_ae").startswith("0.1.0+")


def test_scoring_leaves_batchnorm_statistics_alone(tiny_dataset) -> None:
    method = create_method("conv_ae", {"img_size": 32, "epochs": 1, "batch_size": 4,
                                       "widths": [8, 16], "latent": 4})
    method.fit(tiny_dataset)
    before = {k: v.clone() for k, v in method.net.state_dict().items()}
    scores = method.score(tiny_dataset)
    assert scores.image.shape == (8,) and scores.maps.shape == (8, 32, 32)
    assert all(torch.equal(before[k], v) for k, v in method.net.state_dict().items())


def test_code_version_covers_what_a_method_imports_and_nothing_else() -> None:
    """A model is retrained when code it runs changes, not when an unrelated block is added."""
    from reprolib.cache import method_sources
    from reprolib.paths import repo_root

    files = {p.relative_to(repo_root()).as_posix() for p in method_sources("ae")}
    assert {"reprolib/methods/ae/model.py", "reprolib/training.py",
            "reprolib/methods/base.py", "reprolib/blocks/conv.py"} <= files
    assert "reprolib/blocks/perlin.py" not in files      # ReSynthDetect's noise: not the AE's
    assert not any(f.startswith("reprolib/methods/hetero_ae/") for f in files)
    assert "reprolib/blocks/perlin.py" in {
        p.relative_to(repo_root()).as_posix() for p in method_sources("resynthdetect")}


def test_flush_denormals_zeroes_subnormals_inside_and_restores_after() -> None:
    subnormal = torch.tensor([1e-40])
    assert subnormal.item() > 0  # float32 keeps it (as a subnormal) by default
    with flush_denormals() as supported:
        if not supported:
            pytest.skip("this CPU cannot flush subnormals")
        assert (subnormal * 1.0).item() == 0.0
    assert (torch.tensor([1e-40]) * 1.0).item() > 0  # torch's default is back


def test_ae_training_leaves_subnormal_handling_as_it_found_it(tiny_dataset) -> None:
    method = create_method("ae", {"img_size": 32, "epochs": 1, "batch_size": 4,
                                  "widths": [8, 16], "latent": 4})
    method.fit(tiny_dataset)
    assert (torch.tensor([1e-40]) * 1.0).item() > 0
