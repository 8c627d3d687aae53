"""MDFSC (Rahul et al., multi-scale deep feature sparse coding for retinal anomaly detection),
with its Table 2 and Table 3 variants as config switches.

``mdfsc`` (§3, §4.2):

1. train the VGG16 autoencoder (:class:`~reprolib.methods.mdfsc.model.VGGAutoencoder`) on
   random 64x64 crops of the normal 512 px training images, L2 loss, Adam 1e-4 (§4.2);
2. multi-scale features of every training image from its encoder (896 channels at 1/8, MLF-SC's
   formula), 2-pixel border crop, per-image standardisation; 16x16 patches, stride 2;
3. one dictionary of 50 atoms **per channel** (as MLF-SC; §3.2 writes one feature matrix, but
   per-scale dictionaries on 512/256/128-channel patches of 16x16 would be 131 072-long atoms
   against a few thousand samples), learned by scikit-learn's ``dict_learning`` algorithm
   (:mod:`reprolib.blocks.dictionary`) with alpha 1;
4. score (§3.3): codes by Lasso (LARS's solution, :mod:`reprolib.blocks.lasso`) with alpha 1
   in the paper's scaling ``1/2 ||f - D w||^2 + alpha ||w||_1`` (scikit-learn's
   ``transform_alpha``); residual per patch = squared L2; image score = sum over channels of
   the top-5 patch residuals; map = patch residuals summed over channels (for figures).

The encoder starts from torchvision's ImageNet VGG16 weights when the machine has them
("Transfer Learning" is among the paper's index terms; ``encoder_init``), else from random init;
``weights_used`` records which. ``features='imagenet'`` (Table 2): the same pipeline on ImageNet
VGG16 ``features`` (no autoencoder training). It needs the ImageNet weights (torch cache or
internet) and fails at construction without them; ``imagenet_backbone='efficientnet_lite0'``
runs it on the packaged ImageNet EfficientNet-Lite0 through the same formula (stride-8, -4 and
-2 stage ends of the image at scales 1, 1/2, 1/4: 80 channels at 1/8), the stand-in used here.

Deviations (also in the README): the dictionary learns from ``dict_patches`` random training
patches per channel, not all of them; MLF-SC's ``MiniBatchDictionaryLearning`` is replaced by
the deterministic batch algorithm; the paper does not give the AE's epochs or batch size.

``scorer='ae_recon_loss'`` (§4.4, Table 3's variant ``ae_recon_loss``): the autoencoder without
its linear layers, trained the same way; score = mean squared reconstruction error of the whole
image, map = per-pixel error. Results rows: method ``mdfsc``, variants ``full``,
``imagenet_features`` (``features='imagenet'``) and ``ae_recon_loss``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.backbones import load_backbone
from reprolib.blocks.dictionary import learn_dictionaries
from reprolib.blocks.lasso import sparse_encode
from reprolib.blocks.recon import check_positive, error_map
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.mdfsc.model import (
    LITE0_CHANNELS,
    LITE0_TAPS,
    N_CHANNELS,
    TAPS,
    VGGAutoencoder,
    extract_patches,
    multiscale_features,
    patch_grid,
    patch_residual_map,
    random_crops,
    standardise,
    top_k_score,
)
from reprolib.training import make_loader


@dataclass
class MDFSCAEConfig(MethodConfig):
    """Autoencoder settings (§4.2)."""

    img_size: int = 512
    in_channels: int = 3
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-4
    crop_size: int = 64
    latent: int = 256
    #: start of the encoder: torchvision's ImageNet VGG16 weights when the machine has them
    #: (falling back to random init, recorded in ``weights_used``) or random init
    encoder_init: Literal["imagenet", "random"] = "imagenet"

    def validate(self) -> None:
        check_positive(self, "img_size", "epochs", "batch_size", "lr", "crop_size", "latent",
                       allow_zero=("epochs",))
        if self.in_channels != 3:
            raise ConfigError(f"config key 'in_channels': VGG16 takes 3 channels, got "
                              f"{self.in_channels}")
        if self.crop_size % 32 or self.crop_size > self.img_size:
            raise ConfigError(f"config key 'crop_size': expected a multiple of 32 no larger "
                              f"than img_size {self.img_size}, got {self.crop_size}")


@dataclass
class MDFSCConfig(MDFSCAEConfig):
    #: "sparse_coding" (the method) or "ae_recon_loss" (Table 3's baseline: the autoencoder
    #: without its linear layers, scored by the mean squared reconstruction error)
    scorer: Literal["sparse_coding", "ae_recon_loss"] = "sparse_coding"
    features: Literal["autoencoder", "imagenet"] = "autoencoder"
    #: the ImageNet network of ``features='imagenet'`` (Table 2): the paper's VGG16 (torchvision
    #: weights, not obtainable here) or the packaged EfficientNet-Lite0 through the same
    #: formula (:data:`~reprolib.methods.mdfsc.model.LITE0_TAPS`, 80 channels)
    imagenet_backbone: Literal["vgg16", "efficientnet_lite0"] = "vgg16"
    downscale: Literal["maxpool", "bilinear"] = "maxpool"
    border: int = 2
    patch_size: int = 16
    stride: int = 2
    n_atoms: int = 50
    alpha: float = 1.0
    dict_patches: int = 1000
    dict_iter: int = 50
    dict_tol: float = 1e-8
    top_k: int = 5
    #: channels coded at once when scoring (bounds memory, not results)
    channel_chunk: int = 64

    def validate(self) -> None:
        super().validate()
        check_positive(self, "patch_size", "stride", "n_atoms", "alpha", "dict_patches",
                       "dict_iter", "top_k", "channel_chunk", "border", "dict_tol",
                       allow_zero=("border", "dict_tol"))
        if self.img_size % 8:
            raise ConfigError(f"config key 'img_size': expected a multiple of 8 (features at "
                              f"1/8), got {self.img_size}")
        if self.scorer == "ae_recon_loss":
            if self.features != "autoencoder":
                raise ConfigError("config key 'features': scorer 'ae_recon_loss' scores the "
                                  f"autoencoder itself, got features {self.features!r}")
            if self.img_size % 32:
                raise ConfigError(f"config key 'img_size': scorer 'ae_recon_loss' needs a "
                                  f"multiple of 32 (five max-pools), got {self.img_size}")
            return
        side = self.img_size // 8 - 2 * self.border
        if side < self.patch_size:
            raise ConfigError(f"config key 'patch_size': {self.patch_size} does not fit the "
                              f"{side}x{side} feature map of a {self.img_size} px image with "
                              f"border {self.border}")


@register("mdfsc")
class MDFSC(AnomalyMethod):
    """Multi-scale deep feature sparse coding on the trained autoencoder's encoder, or
    (``scorer='ae_recon_loss'``) the autoencoder's own reconstruction error."""

    Config = MDFSCConfig
    config: MDFSCConfig
    normalize = "imagenet"

    def _init_encoder(self, init: str, required: bool = False) -> None:
        """Load torchvision's ImageNet VGG16 ``features`` into the encoder when ``init`` is
        'imagenet' and the weights are at hand; record what the encoder holds."""
        self.weights_used = "random"
        if init != "imagenet":
            return
        vgg, weights = load_backbone("vgg16", "imagenet")
        if weights.startswith("imagenet"):
            self.net.encoder.load_state_dict(vgg.features.state_dict())
        elif required:
            raise RuntimeError("mdfsc features='imagenet' (Table 2) needs torchvision's "
                               "ImageNet VGG16 weights (VGG16_Weights.IMAGENET1K_V1 in the "
                               "torch cache or a connection); none were found")
        self.weights_used = weights

    def _train_autoencoder(self, train: Dataset) -> None:
        c: Any = self.config
        gen = torch.Generator().manual_seed(self.seed)
        optimiser = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        self.net.train()

        def loss(x: torch.Tensor) -> dict[str, torch.Tensor]:
            crops = random_crops(x, c.crop_size, gen)
            return {"mse": torch.mean((self.net(crops) - crops) ** 2)}

        self.fit_batches(train, optimiser, loss, key="mse")

    def __init__(self, config: MDFSCConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        recon = c.scorer == "ae_recon_loss"
        self.net = VGGAutoencoder(c.crop_size, c.latent, linear=not recon)
        self.taps, self.n_channels = TAPS, N_CHANNELS
        self.lite: torch.nn.Module | None = None
        if c.features == "imagenet" and c.imagenet_backbone == "efficientnet_lite0":
            lite, self.weights_used = load_backbone("efficientnet_lite0", "imagenet",
                                                    required=True)
            self.lite = lite.features.eval().to(self.device)
            self.taps, self.n_channels = LITE0_TAPS, LITE0_CHANNELS
        elif c.features == "imagenet":
            self._init_encoder("imagenet", required=True)
        else:
            self._init_encoder(c.encoder_init)
        self.net.to(self.device)
        self.side = c.img_size // 8 - 2 * c.border
        self.grid = patch_grid(self.side, c.patch_size, c.stride)
        self.dictionaries = torch.zeros(self.n_channels, c.n_atoms, c.patch_size ** 2)
        self.dict_info: dict[str, Any] = {}
        self.lasso_info: dict[str, Any] = {}

    # --- features --------------------------------------------------------------------------
    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 896, S, S) standardised multi-scale features of images ``x`` (S = size/8 - 4;
        80 channels on EfficientNet-Lite0)."""
        c = self.config
        net = self.lite if self.lite is not None else self.net.encoder
        net.eval()
        return standardise(multiscale_features(net, x, c.downscale, self.taps), c.border)

    @torch.no_grad()
    def feature_patches(self, x: torch.Tensor) -> torch.Tensor:
        """(896, B, P, patch_size^2) standardised feature patches of images ``x``."""
        c = self.config
        return extract_patches(self.feature_maps(x), c.patch_size, c.stride)

    # --- fit -------------------------------------------------------------------------------
    def fit(self, train: Dataset, val: Dataset | None = None) -> MDFSC:
        c = self.config
        if c.features == "autoencoder":
            self._train_autoencoder(train)
        if c.scorer == "ae_recon_loss":
            self.fitted = True
            return self
        self.eval_mode()
        patches = self._training_patches(train)
        dicts, n_iter, converged, resampled = [], [], [], []
        for c0 in range(0, self.n_channels, c.channel_chunk):
            res = learn_dictionaries(patches[c0:c0 + c.channel_chunk].to(self.device),
                                     c.n_atoms, c.alpha, max_iter=c.dict_iter,
                                     tol=c.dict_tol, seed=self.seed)
            dicts.append(res.dictionaries.float().cpu())
            n_iter += res.n_iter
            converged += res.converged
            resampled += res.resampled
        self.dictionaries = torch.cat(dicts)
        self.dict_info = {"n_patches": int(patches.shape[1]), "max_iter": c.dict_iter,
                          "mean_iter": float(np.mean(n_iter)),
                          "converged_fraction": float(np.mean(converged)),
                          "resampled_atoms": int(np.sum(resampled))}
        self.fitted = True
        return self

    @torch.no_grad()
    def _training_patches(self, train: Dataset) -> torch.Tensor:
        """(896, M, d) float32: ``dict_patches`` patch positions drawn (seeded, without
        replacement) among all patches of all training images; the same positions for every
        channel."""
        c = self.config
        per_image = self.grid * self.grid
        total = len(train) * per_image  # type: ignore[arg-type]
        m = min(c.dict_patches, total)
        chosen = np.sort(np.random.default_rng(self.seed).choice(total, m, replace=False))
        parts, start = [], 0
        for batch in make_loader(train, c.batch_size, shuffle=False):
            x = self.batch_images(batch)
            n = len(x)
            sel = chosen[(chosen >= start) & (chosen < start + n * per_image)] - start
            if len(sel):
                fmap = self.feature_maps(x)
                for i in sel.tolist():  # image, row and column of each chosen patch
                    b, pos = divmod(i, per_image)
                    r, q = divmod(pos, self.grid)
                    r, q = r * c.stride, q * c.stride
                    patch = fmap[b, :, r:r + c.patch_size, q:q + c.patch_size]
                    parts.append(patch.reshape(self.n_channels, 1, -1).float().cpu())
            start += n * per_image
        return torch.cat(parts, dim=1)

    # --- score -----------------------------------------------------------------------------
    @torch.no_grad()
    def residuals(self, x: torch.Tensor) -> torch.Tensor:
        """(896, B, P) squared L2 residual of every patch's Lasso reconstruction (§3.3)."""
        c = self.config
        fmap = self.feature_maps(x)
        b, p = len(x), self.grid * self.grid
        out = torch.empty(self.n_channels, b, p, dtype=torch.float64, device=fmap.device)
        fallback, rounds = 0, 0
        for c0 in range(0, self.n_channels, c.channel_chunk):
            patches = extract_patches(fmap[:, c0:c0 + c.channel_chunk], c.patch_size, c.stride)
            xs = patches.reshape(len(patches), b * p, -1)
            dic = self.dictionaries[c0:c0 + c.channel_chunk].to(xs.device)
            res = sparse_encode(xs, dic, c.alpha, residuals=True)
            assert res.residuals is not None
            out[c0:c0 + c.channel_chunk] = res.residuals.reshape(-1, b, p)
            fallback += res.n_fallback
            rounds = max(rounds, res.rounds)
            nonzero = (res.codes != 0).sum(-1).double()
            self.lasso_info["nonzero_sum"] = self.lasso_info.get("nonzero_sum", 0.0) + \
                float(nonzero.sum())
            self.lasso_info["codes"] = self.lasso_info.get("codes", 0) + nonzero.numel()
            self.lasso_info["all_zero"] = self.lasso_info.get("all_zero", 0) + \
                int((nonzero == 0).sum())
        self.lasso_info["fallback"] = self.lasso_info.get("fallback", 0) + fallback
        self.lasso_info["max_rounds"] = max(self.lasso_info.get("max_rounds", 0), rounds)
        return out

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        c = self.config
        if not self.fitted:
            raise RuntimeError("mdfsc: call fit() (or load a fitted model) before score()")
        if c.scorer == "ae_recon_loss":
            out = self.score_batches(data, lambda x: {"map": error_map(x, self.net(x))})
            return Scores.from_maps(out["map"])
        self.lasso_info = {}

        def fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
            r = self.residuals(x)
            return {"score": top_k_score(r, c.top_k),
                    "map": patch_residual_map(r.float(), self.side, c.patch_size, c.stride,
                                              c.border, c.img_size)}

        out = self.score_batches(data, fn)
        return Scores(image=out["score"], maps=out["map"])

    def extra_state(self) -> dict[str, Any]:
        return {"weights_used": self.weights_used, "dictionaries": self.dictionaries,
                "dict_info": self.dict_info}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.weights_used = str(state.get("weights_used", self.weights_used))
        self.dictionaries = state["dictionaries"].float().cpu()
        self.dict_info = dict(state.get("dict_info", {}))
