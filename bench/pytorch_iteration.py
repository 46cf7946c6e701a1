"""PyTorch twin of `ganbench-bench` (bench/src/main.rs): ms per full training iteration.

The same architectures, batch sizes, losses, optimizers (Adam with the plugins' defaults) and the
same steps per iteration as ganbench's plugins, so that `bench/compare-pytorch.sh` can print
candle / PyTorch time ratios measured side by side:

- toy:     the `gan` plugin's MLPs (G 8→256→256→2 ReLU, D 2→256→256→1 leaky ReLU 0.2),
           non-saturating loss, batch 512: one D update on real and fake rows in one pass, then
           one G update.
- wgan-gp: the `wgan-gp` plugin's MLPs and Wasserstein loss with the gradient penalty (λ = 10,
           double backward), batch 512, one critic update and one G update (n_critic = 1).
- dcgan:   the `gan` plugin with the DCGAN architecture on 1×28×28 images, batch 64 (see DCGAN
           below).
- vae:     the `vae` plugin's Gaussian VAE (encoder 2→256→256→2·2, decoder 2→256→256→2, ReLU,
           learned decoder variance), batch 512, one update.

Prints the table that the Rust bench prints: one row per model, median ms per iteration over
`--iters` timed iterations after `--warmup` untimed ones.
"""

import argparse
import math
import time

import torch
from torch import nn
from torch.nn import functional as F

LATENT = 8
HIDDEN = 256
TOY_BATCH = 512
DCGAN_BATCH = 64
# The gan plugin's DCGAN defaults (crates/sdk/src/dcgan.rs, plugins/gan).
DCGAN_LATENT = 100
DCGAN_CHANNELS = 64


def mlp(sizes, act, out_act=None):
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    if out_act is not None:
        layers.append(out_act())
    return nn.Sequential(*layers)


def leaky():
    return nn.LeakyReLU(0.2)


class DcganGenerator(nn.Module):
    """z → linear (no bias) → 2c×7×7 → BN → ReLU → convT → c×14×14 → BN → ReLU → convT →
    1×28×28 → tanh; 4×4 kernels, stride 2, padding 1."""

    def __init__(self, latent, c):
        super().__init__()
        self.c = c
        self.fc = nn.Linear(latent, 2 * c * 7 * 7, bias=False)
        self.fc_bn = nn.BatchNorm2d(2 * c)
        self.up0 = nn.ConvTranspose2d(2 * c, c, 4, 2, 1, bias=False)
        self.up0_bn = nn.BatchNorm2d(c)
        self.up1 = nn.ConvTranspose2d(c, 1, 4, 2, 1)

    def forward(self, z):
        x = self.fc(z).view(-1, 2 * self.c, 7, 7)
        x = F.relu(self.fc_bn(x))
        x = F.relu(self.up0_bn(self.up0(x)))
        return torch.tanh(self.up1(x))


class DcganDiscriminator(nn.Module):
    """1×28×28 → conv → c×14×14 → leaky ReLU → conv (no bias) → 2c×7×7 → BN → leaky ReLU →
    linear → 1."""

    def __init__(self, c):
        super().__init__()
        self.conv0 = nn.Conv2d(1, c, 4, 2, 1)
        self.conv1 = nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False)
        self.conv1_bn = nn.BatchNorm2d(2 * c)
        self.fc = nn.Linear(2 * c * 7 * 7, 1)

    def forward(self, x):
        x = F.leaky_relu(self.conv0(x), 0.2)
        x = F.leaky_relu(self.conv1_bn(self.conv1(x)), 0.2)
        return self.fc(x.flatten(1))


class Gan:
    """One D update (real and fake rows in one pass, plus an optional penalty), one G update."""

    def __init__(self, g, d, latent, batch, data_shape, lr, betas, loss, penalty=None):
        self.g, self.d, self.latent, self.batch = g, d, latent, batch
        self.data_shape, self.loss, self.penalty = data_shape, loss, penalty
        self.separate = any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
        self.opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=betas, eps=1e-8)
        self.opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=betas, eps=1e-8)

    def generate(self, z):
        return self.g(z).view(z.shape[0], *self.data_shape)

    def iteration(self, real):
        b = self.batch
        fake = self.generate(torch.randn(b, self.latent)).detach()
        if self.separate:
            # Batch norm: real and fake rows as separate batches (as ganbench and DCGAN do).
            lr, lf = self.d(real).flatten(), self.d(fake).flatten()
        else:
            logits = self.d(torch.cat([real, fake])).flatten()
            lr, lf = logits[:b], logits[b:]
        if self.loss == "ns":
            loss = F.softplus(-lr).mean() + F.softplus(lf).mean()
        else:
            loss = lf.mean() - lr.mean()
        gp = 0.0
        if self.penalty is not None:
            p = gradient_penalty(self.d, real, fake, self.penalty)
            gp = p.item()
            loss = loss + p
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        metrics = [loss.item(), gp, lr.mean().item(), lf.mean().item()]

        logits = self.d(self.generate(torch.randn(b, self.latent))).flatten()
        loss_g = F.softplus(-logits).mean() if self.loss == "ns" else -logits.mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return metrics + [loss_g.item()]


def gradient_penalty(d, real, fake, lam):
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)))
    mixed = (fake + eps * (real - fake)).requires_grad_(True)
    (g,) = torch.autograd.grad(d(mixed).sum(), mixed, create_graph=True)
    norm = (g.flatten(1).pow(2).sum(1) + 1e-12).sqrt()
    return lam * (norm - 1).pow(2).mean()


class Vae:
    def __init__(self, batch):
        self.enc = mlp([2, HIDDEN, HIDDEN, 4], nn.ReLU)
        self.dec = mlp([2, HIDDEN, HIDDEN, 2], nn.ReLU)
        self.log_var = nn.Parameter(torch.full((2,), 2 * math.log(0.1)))
        params = list(self.enc.parameters()) + list(self.dec.parameters()) + [self.log_var]
        self.opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        self.batch = batch

    def iteration(self, x):
        h = self.enc(x)
        mu, log_var_z = h[:, :2], h[:, 2:]
        z = mu + torch.randn(self.batch, 2) * (0.5 * log_var_z).exp()
        mean = self.dec(z)
        sq = (x - mean).pow(2)
        nll = 0.5 * ((sq * (-self.log_var).exp()).sum(1) + self.log_var.sum() + 2 * math.log(2 * math.pi))
        kl = 0.5 * (log_var_z.exp() + mu.pow(2) - log_var_z - 1).sum(1)
        rec, kl = nll.mean(), kl.mean()
        loss = rec + kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return [loss.item(), rec.item(), kl.item()]


def toy_gan(loss, penalty=None):
    g = mlp([LATENT, HIDDEN, HIDDEN, 2], nn.ReLU)
    d = mlp([2, HIDDEN, HIDDEN, 1], leaky)
    lr, betas = (5e-4, (0.5, 0.999)) if loss == "ns" else (1e-4, (0.5, 0.9))
    return Gan(g, d, LATENT, TOY_BATCH, (2,), lr, betas, loss, penalty)


def models():
    """(name, batch, data shape, trainer) in the Rust bench's order."""
    dcgan = Gan(
        DcganGenerator(DCGAN_LATENT, DCGAN_CHANNELS),
        DcganDiscriminator(DCGAN_CHANNELS),
        DCGAN_LATENT,
        DCGAN_BATCH,
        (1, 28, 28),
        2e-4,
        (0.5, 0.999),
        "ns",
    )
    return [
        ("toy", TOY_BATCH, (2,), toy_gan("ns")),
        ("wgan-gp", TOY_BATCH, (2,), toy_gan("wasserstein", penalty=10.0)),
        ("dcgan", DCGAN_BATCH, (1, 28, 28), dcgan),
        ("vae", TOY_BATCH, (2,), Vae(TOY_BATCH)),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--only", nargs="*", help="model names to run (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)

    print(f"pytorch {torch.__version__}, {args.threads} thread(s), median of {args.iters} "
          f"iterations after {args.warmup} warm-up")
    print(f"{'model':<10} {'batch':>6} {'median ms':>10} {'p10 ms':>9} {'p90 ms':>9}")
    for name, batch, shape, trainer in models():
        if args.only and name not in args.only:
            continue
        # Fixed data: toy rows on the ring of 8, images uniform in [-1, 1].
        if shape == (2,):
            angle = torch.randint(0, 8, (batch,)) * (2 * math.pi / 8)
            data = torch.stack([2 * angle.cos(), 2 * angle.sin()], 1) + 0.02 * torch.randn(batch, 2)
        else:
            data = torch.rand(batch, *shape) * 2 - 1
        times = []
        for i in range(args.warmup + args.iters):
            start = time.perf_counter()
            trainer.iteration(data)
            if i >= args.warmup:
                times.append((time.perf_counter() - start) * 1e3)
        times.sort()
        p = [times[round((len(times) - 1) * q)] for q in (0.5, 0.1, 0.9)]
        print(f"{name:<10} {batch:>6} {p[0]:>10.2f} {p[1]:>9.2f} {p[2]:>9.2f}")


if __name__ == "__main__":
    main()
