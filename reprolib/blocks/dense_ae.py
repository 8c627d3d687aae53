"""Conv stacks with a dense (vector) bottleneck, shared by the ``ae`` and ``vae`` baselines.

The encoder is :func:`reprolib.blocks.conv.conv_encoder` (stride-2 4x4 convolutions), flattened
and projected by a linear layer to a latent vector; the decoder projects back, reshapes and runs
:func:`reprolib.blocks.conv.conv_decoder`. The spatial size at the bottleneck is
``img_size / 2**len(widths)``, so any image size divisible by that works.
"""

from __future__ import annotations

from torch import nn

from reprolib.blocks.conv import conv_decoder, conv_encoder


def bottleneck_size(img_size: int, n_stages: int) -> int:
    """Spatial size after ``n_stages`` halvings; a clear error when it does not divide."""
    if n_stages < 1 or img_size % 2 ** n_stages or img_size < 2 ** n_stages:
        raise ValueError(f"img_size: expected a multiple of 2**{n_stages} = {2 ** n_stages}, "
                         f"got {img_size}")
    return img_size // 2 ** n_stages


def dense_encoder(in_channels: int, widths: tuple[int, ...], img_size: int,
                  out_features: int) -> nn.Sequential:
    """Image (N, C, S, S) -> vector (N, out_features)."""
    side = bottleneck_size(img_size, len(widths))
    return nn.Sequential(conv_encoder(in_channels, widths), nn.Flatten(),
                         nn.Linear(widths[-1] * side * side, out_features))


def dense_decoder(out_channels: int, widths: tuple[int, ...], img_size: int,
                  in_features: int, out_act: str = "sigmoid") -> nn.Sequential:
    """Vector (N, in_features) -> image (N, C, S, S); mirror of :func:`dense_encoder`."""
    side = bottleneck_size(img_size, len(widths))
    return nn.Sequential(nn.Linear(in_features, widths[-1] * side * side), nn.ReLU(inplace=True),
                         nn.Unflatten(1, (widths[-1], side, side)),
                         conv_decoder(out_channels, widths, out_act=out_act))


__all__ = ["bottleneck_size", "dense_decoder", "dense_encoder"]
