"""Fit / score glue of CycleGAN between images and proxies (ProxyAno Table I "Cycle-GAN [56]").

Networks and training follow junyanz/pytorch-CycleGAN-and-pix2pix defaults: ResNet generators,
InstanceNorm, no dropout, 70x70 PatchGANs with InstanceNorm, LSGAN, image pool of 50,
λ_A = λ_B = 10, identity weight 0.5, Adam 2e-4 with β1 = 0.5; per batch one step of both
generators, then one of both discriminators. The config's defaults are smaller than the
reference's (``ngf = ndf = 64``, ``n_blocks`` 9 at 256 px, 6 at 128 px): ``ngf = ndf = 32`` and 6
blocks, so that a CPU run stays short (four networks, six generator passes per step); the
``paper`` profile sets the reference's values.

Domains: A = the training images; B = their proxies (``proxy``, a name in
``reprolib.methods.cyclegan.model.PROXIES``: ``si`` = ProxyAno's superpixel image, what the
ProxyAno notebooks use; the config's default ``gaussian_blur`` with ``proxy_sigma`` pixels is
Table III's smooth-image proxy). CycleGAN is unpaired: the
B batch of a step holds the proxies of the same images in a seeded random order, so a pair is
not given to the model.

Not from the reference: batch size (reference 1), fixed epochs without the linear learning-rate
decay, no crop / flip augmentation, scoring in eval mode (InstanceNorm without running
statistics behaves the same in both modes).

Score (ProxyAno does not say how it scored CycleGAN; its §IV-C2 explains CycleGAN's result by
reconstruction error): image -> proxy -> image, x_hat = G_B(G_A(x)); image score = mean squared
error, map = |x - x_hat| (tanh range, so maps lie in [0, 2]); ``extra["l1"]`` the mean absolute
error and ``extra["proxy_l1"]`` the mean |G_A(x) - proxy(x)| (how well the proxy is predicted).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from reprolib.blocks.dcgan import init_dcgan_weights
from reprolib.blocks.pix2pix import (
    ImagePool,
    PatchDiscriminator,
    ResnetGenerator,
    set_requires_grad,
)
from reprolib.blocks.recon import (
    check_positive,
    check_power_of_two,
    reconstruction_result,
    reconstruction_scores,
)
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.cyclegan.model import PROXIES, cycle_d_loss, cycle_g_losses, get_proxy
from reprolib.training import make_loader, optimiser_step, run_epochs


@dataclass
class CycleGANConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 1
    proxy: str = "gaussian_blur"
    proxy_sigma: float = 2.0
    ngf: int = 32
    ndf: int = 32
    n_blocks: int = 6
    lambda_a: float = 10.0
    lambda_b: float = 10.0
    lambda_idt: float = 0.5
    pool_size: int = 50
    epochs: int = 20
    batch_size: int = 16
    lr: float = 2e-4
    beta1: float = 0.5

    def validate(self) -> None:
        check_power_of_two(self.img_size, minimum=32)
        check_positive(self, "in_channels", "ngf", "ndf", "n_blocks", "epochs", "batch_size",
                       "lr", "lambda_a", "lambda_b", "lambda_idt", "pool_size", "proxy_sigma",
                       allow_zero=("epochs", "n_blocks", "lambda_idt", "pool_size"))
        if self.proxy not in PROXIES:
            raise ConfigError(f"config key 'proxy': expected one of {sorted(PROXIES)}, "
                              f"got {self.proxy!r}")
        if not 0 <= self.beta1 < 1:
            raise ConfigError(f"config key 'beta1': expected in [0, 1), got {self.beta1}")


@register("cyclegan")
class CycleGAN(AnomalyMethod):
    """Image <-> proxy CycleGAN scored by the error of image -> proxy -> image."""

    Config = CycleGANConfig
    config: CycleGANConfig
    normalize = "tanh"
    convergence_key = "cycle_a"

    def __init__(self, config: CycleGANConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        ch = c.in_channels
        self.g_a = ResnetGenerator(ch, ch, c.ngf, c.n_blocks).to(self.device)  # image -> proxy
        self.g_b = ResnetGenerator(ch, ch, c.ngf, c.n_blocks).to(self.device)  # proxy -> image
        self.d_a = PatchDiscriminator(ch, c.ndf, norm="instance").to(self.device)  # proxies
        self.d_b = PatchDiscriminator(ch, c.ndf, norm="instance").to(self.device)  # images
        for net in (self.g_a, self.g_b, self.d_a, self.d_b):
            net.apply(init_dcgan_weights)

    def proxies(self, x: torch.Tensor, ids: list[str]) -> torch.Tensor:
        """The proxies of images ``x`` (same shape), by the configured proxy function."""
        with torch.no_grad():
            return get_proxy(self.config.proxy)(x, ids, self.config)

    def fit(self, train: Dataset, val: Dataset | None = None) -> CycleGAN:
        c = self.config
        betas = (c.beta1, 0.999)
        gens, discs = [self.g_a, self.g_b], [self.d_a, self.d_b]
        opt_g = torch.optim.Adam([p for g in gens for p in g.parameters()], lr=c.lr, betas=betas)
        opt_d = torch.optim.Adam([p for d in discs for p in d.parameters()], lr=c.lr,
                                 betas=betas)
        pool_a, pool_b = ImagePool(c.pool_size, self.seed), ImagePool(c.pool_size, self.seed + 1)
        order = torch.Generator().manual_seed(self.seed)
        for net in (*gens, *discs):
            net.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            real_a = self.batch_images(batch)
            perm = torch.randperm(len(real_a), generator=order)
            real_b = self.proxies(real_a[perm.to(real_a.device)],
                                  [batch["id"][int(i)] for i in perm])
            fake_b, fake_a = self.g_a(real_a), self.g_b(real_b)
            rec_a, rec_b = self.g_b(fake_b), self.g_a(fake_a)
            idt_a = self.g_a(real_b) if c.lambda_idt > 0 else None
            idt_b = self.g_b(real_a) if c.lambda_idt > 0 else None
            set_requires_grad(discs, False)
            losses = cycle_g_losses(real_a, real_b, fake_b, rec_a, fake_a, rec_b, idt_a, idt_b,
                                    self.d_a(fake_b), self.d_b(fake_a), lambda_a=c.lambda_a,
                                    lambda_b=c.lambda_b, lambda_idt=c.lambda_idt)
            optimiser_step(opt_g, losses["g"])
            set_requires_grad(discs, True)
            loss_d_a = cycle_d_loss(self.d_a(real_b), self.d_a(pool_b.query(fake_b)))
            loss_d_b = cycle_d_loss(self.d_b(real_a), self.d_b(pool_a.query(fake_a)))
            optimiser_step(opt_d, loss_d_a + loss_d_b)
            return {**{k: v.detach() for k, v in losses.items()}, "d_a": loss_d_a.detach(),
                    "d_b": loss_d_b.detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history,
                   steps=c.steps)
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        self.eval_mode()
        parts: dict[str, list[torch.Tensor]] = {}
        for batch in make_loader(data, self.config.batch_size, shuffle=False):
            x = self.batch_images(batch)
            proxy_hat = self.g_a(x)
            out = reconstruction_scores(x, self.g_b(proxy_hat))
            out["proxy_l1"] = (proxy_hat - self.proxies(x, list(batch["id"]))
                               ).abs().flatten(1).mean(dim=1)
            for name, value in out.items():
                parts.setdefault(name, []).append(value.cpu())
        arrays = {k: torch.cat(v).numpy() for k, v in parts.items()}
        result = reconstruction_result(arrays)
        result.extra["proxy_l1"] = arrays["proxy_l1"]
        return result
