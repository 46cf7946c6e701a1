#!/usr/bin/env python3
"""The PyTorch side of bench/gpu-smoke.sh: one training iteration of a ganbench variant, timed.

Builds the same networks as ganbench's SDK (crates/sdk/src/nn.rs `Mlp`, crates/sdk/src/dcgan.rs)
from the parameters ganbench itself uses for the variant (read from `ganbench plugins --json` by
the shell script), and times one iteration the way ganbench's trainer runs it: the host batch is
copied to the device once per step, `n_critic` critic updates, one generator update, and the
losses read back as Python floats (one synchronization per step, as ganbench's metrics are).

Usage: gpu_smoke_torch.py --device cuda:0 --steps 100 CONFIG_JSON ...
where each CONFIG_JSON is {"label": "GAN", "plugin": "gan", "params": {...}, "data_shape": [2]}.
Prints one JSON object per config: {"label", "ms_per_step", "architecture"}.
"""

import argparse
import json
import math
import time

import torch
from torch import nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm


def activation(name):
    return {
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(0.2),
        "tanh": nn.Tanh(),
        "elu": nn.ELU(),
        "sigmoid": nn.Sigmoid(),
        "identity": nn.Identity(),
    }.get(name, nn.ReLU())


def mlp(inputs, hidden, layers, outputs, act, sn=False):
    wrap = spectral_norm if sn else (lambda m: m)
    mods, width = [], inputs
    for _ in range(layers):
        mods += [wrap(nn.Linear(width, hidden)), activation(act)]
        width = hidden
    mods.append(wrap(nn.Linear(width, outputs)))
    return nn.Sequential(*mods)


def stages_for(size):
    """Halvings of the side down to a base grid of 4..7 cells (crates/sdk/src/dcgan.rs)."""
    stages = 0
    while size > 7:
        size //= 2
        stages += 1
    return stages, size


class ConvGenerator(nn.Module):
    """z -> linear -> (c*2^(s-1), base, base) -> BN -> ReLU -> transposed convs (4x4, stride 2)."""

    def __init__(self, latent, shape, c, out_act="tanh"):
        super().__init__()
        channels, size = shape[0], shape[1]
        s, base = stages_for(size)
        top = c * 2 ** (s - 1)
        self.top, self.base = top, base
        self.fc = nn.Linear(latent, top * base * base, bias=False)
        self.bn0 = nn.BatchNorm2d(top)
        mods = []
        for i in reversed(range(s)):
            cin = c * 2**i
            cout = channels if i == 0 else c * 2 ** (i - 1)
            mods.append(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=(i == 0)))
            if i > 0:
                mods += [nn.BatchNorm2d(cout), nn.ReLU()]
        mods.append(activation(out_act))
        self.convs = nn.Sequential(*mods)

    def forward(self, z):
        x = self.fc(z).view(-1, self.top, self.base, self.base)
        return self.convs(F.relu(self.bn0(x)))


class ConvDiscriminator(nn.Module):
    """Strided 4x4 convs (the first without normalization) -> LeakyReLU -> linear to `outputs`."""

    def __init__(self, shape, c, outputs, norm):
        super().__init__()
        channels, size = shape[0], shape[1]
        s, base = stages_for(size)
        wrap = spectral_norm if norm == "spectral" else (lambda m: m)
        mods, cin = [], channels
        for i in range(s):
            cout = c * 2**i
            use_bn = norm == "batch" and i > 0
            mods.append(wrap(nn.Conv2d(cin, cout, 4, 2, 1, bias=not use_bn)))
            if use_bn:
                mods.append(nn.BatchNorm2d(cout))
            mods.append(nn.LeakyReLU(0.2))
            cin = cout
        self.convs = nn.Sequential(*mods)
        self.fc = wrap(nn.Linear(cin * base * base, outputs))

    def forward(self, x):
        return self.fc(self.convs(x).flatten(1))


def gan_losses(name):
    """(d_loss(real_logits, fake_logits), g_loss(fake_logits)) for ganbench's loss names."""
    sp = F.softplus
    table = {
        "nonsaturating": (lambda r, f: sp(-r).mean() + sp(f).mean(), lambda f: sp(-f).mean()),
        "minimax": (lambda r, f: sp(-r).mean() + sp(f).mean(), lambda f: -sp(f).mean()),
        "hinge": (lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(), lambda f: -f.mean()),
        "wasserstein": (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
        "least_squares": (
            lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean(),
            lambda f: 0.5 * ((f - 1) ** 2).mean(),
        ),
    }
    return table.get(name, table["nonsaturating"])


def gan_step_fn(cfg, device):
    p, shape = cfg["params"], cfg["data_shape"]
    plugin = cfg["plugin"]
    latent, batch = int(p.get("latent_dim", 8)), int(p.get("batch_size", 256))
    n_critic = int(p.get("n_critic", 1))
    loss = {"wgan-gp": "wasserstein"}.get(plugin, p.get("loss", "nonsaturating"))
    d_loss, g_loss = gan_losses(loss)
    sn = plugin == "sngan" or bool(p.get("spectral_norm", False))
    lam = float(p.get("lambda", 10.0)) if plugin == "wgan-gp" else 0.0
    if str(p.get("arch", "Mlp")).lower() == "dcgan":
        c = int(p.get("channels", 32))
        g = ConvGenerator(latent, shape, c)
        norm = "spectral" if sn else ("none" if lam > 0 else "batch")
        d = ConvDiscriminator(shape, c, 1, norm)
        arch = f"DCGAN c={c}, D norm {norm}"
    else:
        hidden, layers = int(p.get("hidden", 256)), int(p.get("layers", 2))
        data_len = math.prod(shape)
        g = mlp(latent, hidden, layers, data_len, p.get("g_activation", "relu"))
        d = mlp(data_len, hidden, layers, 1, p.get("d_activation", "leaky_relu"), sn)
        arch = f"MLP {layers}x{hidden}{' + SN' if sn else ''}"
    g, d = g.to(device), d.to(device)
    betas = (float(p.get("beta1", 0.5)), float(p.get("beta2", 0.999)))
    opt_g = torch.optim.Adam(g.parameters(), lr=float(p.get("lr_g", 2e-4)), betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=float(p.get("lr_d", 2e-4)), betas=betas)
    rows = batch * n_critic
    host_batches = [torch.randn(rows, *shape) for _ in range(4)]

    def gen(z):
        return g(z).view(-1, *shape)

    def step(i):
        real_all = host_batches[i % len(host_batches)].to(device)
        metrics = []
        for k in range(n_critic):
            real = real_all[k * batch : (k + 1) * batch]
            fake = gen(torch.randn(batch, latent, device=device)).detach()
            logits = d(torch.cat([real, fake])).flatten()
            loss_d = d_loss(logits[:batch], logits[batch:])
            if lam > 0:
                eps = torch.rand(batch, *([1] * len(shape)), device=device)
                x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
                (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
                loss_d = loss_d + lam * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            metrics.append(loss_d)
        loss_g = g_loss(d(gen(torch.randn(batch, latent, device=device))).flatten())
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return [m.item() for m in metrics] + [loss_g.item()]

    return step, arch


def vae_step_fn(cfg, device):
    p, shape = cfg["params"], cfg["data_shape"]
    latent, batch = int(p.get("latent_dim", 2)), int(p.get("batch_size", 256))
    data_len = math.prod(shape)
    if str(p.get("arch", "Mlp")).lower() == "dcgan":
        c = int(p.get("channels", 32))
        enc = ConvDiscriminator(shape, c, 2 * latent, "none")
        dec = ConvGenerator(latent, shape, c, out_act="identity")
        arch = f"conv VAE c={c}"
    else:
        hidden, layers = int(p.get("hidden", 256)), int(p.get("layers", 2))
        act = p.get("activation", "relu")
        enc = mlp(data_len, hidden, layers, 2 * latent, act)
        dec = mlp(latent, hidden, layers, data_len, act)
        arch = f"MLP VAE {layers}x{hidden}"
    enc, dec = enc.to(device), dec.to(device)
    log_var = torch.zeros(data_len, device=device, requires_grad=True)
    params = list(enc.parameters()) + list(dec.parameters()) + [log_var]
    betas = (float(p.get("beta1", 0.9)), float(p.get("beta2", 0.999)))
    opt = torch.optim.Adam(params, lr=float(p.get("lr", 1e-3)), betas=betas)
    host_batches = [torch.randn(batch, *shape) for _ in range(4)]

    def step(i):
        x = host_batches[i % len(host_batches)].to(device)
        mu, lv = enc(x).chunk(2, dim=1)
        z = mu + (0.5 * lv).exp() * torch.randn_like(mu)
        x_hat = dec(z).view(batch, -1)
        sq = (x.view(batch, -1) - x_hat) ** 2
        nll = 0.5 * ((sq * (-log_var).exp()).sum(1) + log_var.sum() + data_len * math.log(2 * math.pi))
        kl = 0.5 * ((lv.exp() + mu**2 - lv - 1).sum(1))
        loss = (nll + float(p.get("beta", 1.0)) * kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return [loss.item(), nll.mean().item(), kl.mean().item()]

    return step, arch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("configs", nargs="+")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    for text in args.configs:
        cfg = json.loads(text)
        make = vae_step_fn if cfg["plugin"] == "vae" else gan_step_fn
        step, arch = make(cfg, device)
        for i in range(args.warmup):
            step(i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for i in range(args.steps):
            step(i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        ms = (time.perf_counter() - t0) * 1000 / args.steps
        print(json.dumps({"label": cfg["label"], "ms_per_step": ms, "architecture": arch}), flush=True)


if __name__ == "__main__":
    main()
