"""Plain convolutional encoder / decoder stacks shared by the reconstruction baselines."""

from __future__ import annotations

from torch import nn


def conv_block(in_ch: int, out_ch: int, *, stride: int = 2, kernel: int = 4,
               norm: bool = True, act: str = "leaky") -> nn.Sequential:
    """Conv (stride 2 halves the size) + optional BatchNorm + activation."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - stride + 1) // 2,
                                         bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(activation(act))
    return nn.Sequential(*layers)


def deconv_block(in_ch: int, out_ch: int, *, norm: bool = True, act: str = "relu"
                 ) -> nn.Sequential:
    """Transposed conv doubling the size + optional BatchNorm + activation."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(activation(act))
    return nn.Sequential(*layers)


def activation(name: str) -> nn.Module:
    """``relu``, ``leaky`` (slope 0.2, as DCGAN), ``tanh``, ``sigmoid`` or ``none``."""
    table = {"relu": nn.ReLU(inplace=True), "leaky": nn.LeakyReLU(0.2, inplace=True),
             "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "none": nn.Identity()}
    if name not in table:
        raise ValueError(f"activation: expected one of {sorted(table)}, got {name!r}")
    return table[name]


def conv_encoder(in_ch: int, widths: tuple[int, ...], latent: int | None = None) -> nn.Sequential:
    """``len(widths)`` stride-2 blocks; optionally a final 1x1 conv to ``latent`` channels."""
    layers: list[nn.Module] = []
    prev = in_ch
    for i, width in enumerate(widths):
        layers.append(conv_block(prev, width, norm=i > 0))
        prev = width
    if latent is not None:
        layers.append(nn.Conv2d(prev, latent, 1))
    return nn.Sequential(*layers)


def conv_decoder(out_ch: int, widths: tuple[int, ...], latent: int | None = None,
                 out_act: str = "sigmoid") -> nn.Sequential:
    """Mirror of :func:`conv_encoder`: ``widths`` given encoder-side (they are reversed)."""
    rev = tuple(reversed(widths))
    layers: list[nn.Module] = []
    prev = rev[0]
    if latent is not None:
        layers.append(nn.Conv2d(latent, prev, 1))
    for width in rev[1:]:
        layers.append(deconv_block(prev, width))
        prev = width
    layers.append(nn.ConvTranspose2d(prev, out_ch, 4, 2, 1))
    layers.append(activation(out_act))
    return nn.Sequential(*layers)
