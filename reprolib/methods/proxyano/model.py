"""Networks and loss/score pieces of ProxyAno (Zhou et al., "Proxy-bridged Image Reconstruction
Network for Anomaly Detection in Medical Images", TMI 2022).

Both modules use the same encoder-decoder (§III-F). Its Fig. 5 layout is not in the text; we
take the reading of REFERENCE_NOTES: a plain conv encoder of 4 stride-2 stages (4x4 convs,
BatchNorm from the second, LeakyReLU 0.2) and a 1x1 conv to the d = 64 channel spatial latent
z (h = w = S/16), and the mirrored decoder (1x1 conv, 3 transposed-conv stages with BatchNorm +
ReLU, a last transposed conv and a sigmoid), ``reprolib.blocks.conv``.
"""

from __future__ import annotations

import importlib
import types

import torch
from torch import nn

from reprolib.blocks.conv import conv_decoder, conv_encoder
from reprolib.blocks.memory import NearestMemory

#: The branch that builds MemAE's softmax-addressed memory (Table IV row 2, "mem*").
MEMAE_BRANCH = "proxyano-baselines"


def _memae_block() -> types.ModuleType | None:
    try:
        return importlib.import_module("reprolib.blocks.memae_memory")
    except ImportError:
        return None


def memae_available() -> bool:
    """Whether MemAE's memory (``reprolib.blocks.memae_memory.MemAEMemory``) is present."""
    block = _memae_block()
    return block is not None and hasattr(block, "MemAEMemory")


def memae_memory(items: int, dim: int) -> nn.Module:
    """MemAE's memory (Gong et al. [50]: softmax addressing, hard shrinkage 1/N, cosine
    similarity) for Table IV's "EncDec + mem*" row, from ``reprolib.blocks.memae_memory``."""
    if not memae_available():
        raise NotImplementedError(
            "memory='memae' (Table IV 'EncDec + mem*') needs MemAE's memory "
            "(reprolib.blocks.memae_memory.MemAEMemory) from branch "
            f"'{MEMAE_BRANCH}', which is not merged here; use memory='ours' or "
            "memory_items=0")
    return _memae_block().MemAEMemory(items, dim)


def memae_entropy(weights: torch.Tensor) -> torch.Tensor:
    """MemAE's entropy of the memory weights (its Eq. 10), from the same block."""
    if not memae_available():
        raise NotImplementedError(f"MemAE's memory is not merged here (branch '{MEMAE_BRANCH}')")
    return _memae_block().memae_entropy(weights)


class EncDec(nn.Module):
    """Encoder-decoder (§III-F) from ``in_channels`` to ``out_channels`` at the same size, with
    an optional memory between them (§III-C). ``forward`` returns (output, z, z~): z = Enc(x)
    before the memory (Eq. 12), z~ = G(z) the decoder's input (Eq. 3; z itself without
    memory)."""

    def __init__(self, in_channels: int, out_channels: int, widths: tuple[int, ...],
                 latent: int = 64, memory: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = conv_encoder(in_channels, widths, latent)
        self.memory = memory
        self.decoder = conv_decoder(out_channels, widths, latent, out_act="sigmoid")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def run(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``out``, ``z``, ``z_tilde`` and, with a memory, ``aux``: its second output (item
        indices for ours, addressing weights for MemAE's)."""
        z = self.encoder(x)
        result = {"z": z, "z_tilde": z}
        if self.memory is not None:
            result["z_tilde"], result["aux"] = self.memory(z)
        result["out"] = self.decoder(result["z_tilde"])
        return result

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        result = self.run(x)
        return result["out"], result["z"], result["z_tilde"]


def build_encdec(in_channels: int, out_channels: int, widths: tuple[int, ...], latent: int,
                 memory: str = "ours", items: int = 128, gamma: float = 0.99) -> EncDec:
    """An :class:`EncDec` with ProxyAno's memory (``"ours"``), MemAE's (``"memae"``) or none
    (``items == 0``)."""
    mem: nn.Module | None = None
    if items > 0:
        mem = (NearestMemory(items, latent, gamma) if memory == "ours"
               else memae_memory(items, latent))
    return EncDec(in_channels, out_channels, widths, latent, mem)


def paste_patches(proxy: torch.Tensor, image: torch.Tensor, generator: torch.Generator,
                  min_frac: float = 0.125, max_frac: float = 0.5
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pseudo Abnormal Proxy Constructor (PAPC, §III-D, Fig. 4): for every sample, a patch of
    random height and width (each uniform in [min_frac, max_frac] of the side, at least 1 px)
    cut from ``image`` at a random place and pasted onto ``proxy`` at another random place.

    Returns P' (N, C, H, W), the mask M (N, 1, H, W) in {0, 1} of the pasted place, and the
    boxes (N, 6) ``[height, width, src_y, src_x, dst_y, dst_x]``.
    """
    if proxy.shape != image.shape:
        raise ValueError(f"paste_patches: proxy and image must have the same shape, got "
                         f"{tuple(proxy.shape)} and {tuple(image.shape)}")
    n, _, height, width = image.shape
    pseudo = proxy.clone()
    mask = torch.zeros(n, 1, height, width, dtype=image.dtype, device=image.device)
    boxes = torch.zeros(n, 6, dtype=torch.long)

    def uniform_int(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    for i in range(n):
        ph = uniform_int(max(1, round(min_frac * height)), max(1, round(max_frac * height)))
        pw = uniform_int(max(1, round(min_frac * width)), max(1, round(max_frac * width)))
        sy, sx = uniform_int(0, height - ph), uniform_int(0, width - pw)
        dy, dx = uniform_int(0, height - ph), uniform_int(0, width - pw)
        pseudo[i, :, dy:dy + ph, dx:dx + pw] = image[i, :, sy:sy + ph, sx:sx + pw]
        mask[i, :, dy:dy + ph, dx:dx + pw] = 1.0
        boxes[i] = torch.tensor([ph, pw, sy, sx, dy, dx])
    return pseudo, mask, boxes


def squared_error(a: torch.Tensor, b: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """||a - b||_2^2 of Eqs. 7-10 averaged over the batch: ``sum`` = the squared norm of each
    sample (over channels and pixels, as the equations write it), ``mean`` = the per-pixel
    mean (``F.mse_loss``; the sum divided by C*H*W)."""
    per_sample = (a - b).flatten(1).pow(2)
    if reduction == "sum":
        return per_sample.sum(1).mean()
    if reduction == "mean":
        return per_sample.mean()
    raise ValueError(f"reduction: expected 'sum' or 'mean', got {reduction!r}")


def frobenius(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample Frobenius norm ||a - b||_F over all but the first axis (Eq. 13, Table V)."""
    return (a - b).flatten(1).pow(2).sum(1).sqrt()


def pixel_map(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """A_pix = |I - I^| (Eq. 14), averaged over channels: (N, H, W)."""
    return (x - x_hat).abs().mean(dim=1)


__all__ = ["EncDec", "build_encdec", "frobenius", "memae_available", "memae_entropy",
           "memae_memory", "paste_patches", "pixel_map", "squared_error"]
