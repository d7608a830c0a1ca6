"""Sketch-RNN (Ha & Eck 2017): a bidirectional-GRU encoder, a GRU decoder started from z, a mixture output.

Choices made for a 2-core CPU (see checkpoints/README.md for the measurements):
- torch's fused nn.GRU for both encoder and decoder (teacher forcing runs the whole sequence in one call);
  sampling steps the same nn.GRU one row at a time, so there is one set of weights and one code path.
- Regularization is dropout on the decoder's output features (before the mixture head), not recurrent
  dropout: a recurrent mask would need a per-step Python cell (~10x slower here). `dropout` is a *drop*
  probability (magenta's 0.9 was a keep probability).
- No layer norm for the same reason; gradient clipping and the sigma/rho bounds in `mdn.py` keep it stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

from plotter.errors import PlotterError
from plotter.models.batch import START_TOKEN, Batch, make_batch
from plotter.models.checkpoint import register_model
from plotter.models.mdn import MDNHead, MDNParams, absorb_after_end, mdn_loss, sample_mdn
from plotter.models.sampling import (
    DEFAULT_TEMPERATURE,
    class_index,
    join_prefix,
    make_generator,
    resolve_temperature,
    rows_to_sketch,
    stack_prefixes,
)
from plotter.sketch import Sketch


@dataclass
class SketchRNNConfig:
    enc_hidden: int = 128  # encoder GRU size per direction (paper: 256)
    dec_hidden: int = 256  # decoder GRU size (paper: 512)
    z_size: int = 64  # latent size (paper: 128)
    n_mixtures: int = 20  # bivariate Gaussians in the offset mixture
    max_len: int = 250  # longest sketch in points; sampling always stops here
    dropout: float = 0.1  # drop probability on decoder output features
    n_classes: int = 1  # classes the model was trained on
    class_embed: int = 0  # size of a class embedding fed to the decoder each step; 0 = off (single class)
    conditional: bool = True  # False: decoder only (z = 0, no KL), as the paper's unconditional model
    kl_weight: float = 0.5  # final KL weight
    kl_weight_start: float = 0.01  # KL weight at step 0
    kl_decay_rate: float = 0.99995  # w = kl_w - (kl_w - start) * rate**step
    kl_tolerance: float = 0.2  # KL floor: cost = max(KL, tolerance), KL averaged over z dims as in magenta


class SketchRNN(nn.Module):
    kind = "sketch-rnn"
    default_temperature: float = DEFAULT_TEMPERATURE  # a checkpoint's "sampling" entry overrides it

    def __init__(self, config: SketchRNNConfig) -> None:
        super().__init__()
        self.config = c = config
        self.scale = 1.0  # data units per normalized unit; set from the training data
        self.classes: list[str] = []
        if c.conditional:
            self.encoder = nn.GRU(5, c.enc_hidden, batch_first=True, bidirectional=True)
            self.to_latent = nn.Linear(2 * c.enc_hidden, 2 * c.z_size)  # -> mu, log sigma^2
            self.to_h0 = nn.Linear(c.z_size, c.dec_hidden)
        self.class_emb = nn.Embedding(c.n_classes, c.class_embed) if c.class_embed else None
        d_in = 5 + (c.z_size if c.conditional else 0) + c.class_embed
        self.decoder = nn.GRU(d_in, c.dec_hidden, batch_first=True)
        self.drop = nn.Dropout(c.dropout)
        self.head = MDNHead(c.dec_hidden, c.n_mixtures)

    # ------------------------------------------------------------------ pieces
    def kl_weight(self, step: int) -> float:
        c = self.config
        return c.kl_weight - (c.kl_weight - c.kl_weight_start) * c.kl_decay_rate**step

    def _encode(self, y: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """y (B, T+1, 5) target rows; reads points + end row (n+1 rows). Returns mu, logvar (B, Z)."""
        packed = pack_padded_sequence(y, (lengths + 1).cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)  # h: (2, B, H) final states of both directions
        mu, logvar = self.to_latent(torch.cat([h[0], h[1]], dim=-1)).chunk(2, dim=-1)  # (B, Z) each
        return mu, logvar

    def _h0(self, z: torch.Tensor | None, b: int, device: torch.device) -> torch.Tensor:
        if z is None:
            return torch.zeros(1, b, self.config.dec_hidden, device=device)
        return torch.tanh(self.to_h0(z)).unsqueeze(0)  # (1, B, Hd)

    def _extra(
        self, z: torch.Tensor | None, cid: torch.Tensor | None, b: int, device: torch.device
    ) -> torch.Tensor:
        """Per-step conditioning appended to the stroke-5 input: [z, class embedding] (B, E)."""
        parts = [] if z is None else [z]
        if self.class_emb is not None:
            ids = cid if cid is not None else torch.zeros(b, dtype=torch.long, device=device)
            parts.append(self.class_emb(ids))
        return torch.cat(parts, dim=-1) if parts else torch.zeros(b, 0, device=device)

    # ------------------------------------------------------------------ training
    def forward(self, batch: Batch, step: int = 0) -> dict[str, torch.Tensor]:
        """Loss parts for a batch (forward carries the loss so DDP syncs gradients)."""
        return self.compute_loss(batch, step)

    def posterior(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | sketch): mean and log-variance (B, Z) from the encoder."""
        return self._encode(batch.y, batch.lengths)

    def mdn_params(self, batch: Batch, z: torch.Tensor | None = None) -> MDNParams:
        """Teacher-forced mixture parameters for every target row (B, T+1, ...); z None if unconditional."""
        b, t1, _ = batch.x.shape  # (B, T+1, 5)
        dev = batch.x.device
        extra = self._extra(z, batch.class_ids, b, dev)  # (B, E)
        inp = torch.cat([batch.x, extra.unsqueeze(1).expand(b, t1, extra.shape[-1])], dim=-1)  # (B, T+1, 5+E)
        out, _ = self.decoder(inp, self._h0(z, b, dev))  # (B, T+1, Hd)
        return absorb_after_end(self.head(self.drop(out)), batch.x)

    def compute_loss(self, batch: Batch, step: int = 0) -> dict[str, torch.Tensor]:
        c = self.config
        z = None
        kl = torch.zeros((), device=batch.x.device)
        if c.conditional:
            mu, logvar = self.posterior(batch)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # (B, Z) reparameterised
            kl = -0.5 * torch.mean(1.0 + logvar - mu**2 - torch.exp(logvar))
        parts = mdn_loss(self.mdn_params(batch, z), batch.y, batch.mask)
        kl_cost = torch.clamp(kl, min=c.kl_tolerance) if c.conditional else kl
        w = self.kl_weight(step)
        parts.update(
            loss=parts["nll"] + w * kl_cost,
            val_loss=parts["nll"] + c.kl_weight * kl_cost,
            kl=kl,
        )
        return parts

    def configure_optimizer(self, train_cfg: object) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.parameters(), lr=train_cfg.lr, weight_decay=getattr(train_cfg, "weight_decay", 0.0)
        )

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def encode(self, sketches: Sequence[Sketch]) -> torch.Tensor:
        """Latent means (B, Z) of sketches given in data pixel units (deterministic: no noise)."""
        if not self.config.conditional:
            raise PlotterError("this Sketch-RNN is unconditional (no encoder)")
        if not sketches or any(s.is_empty() for s in sketches):
            raise PlotterError("encode needs at least one sketch, none of them empty")
        s3 = [s.to_stroke3() for s in sketches]
        s3 = [np.column_stack([a[:, :2] / self.scale, a[:, 2]]).astype(np.float32) for a in s3]
        batch = make_batch(s3).to(self._device())
        mu, _ = self._encode(batch.y, batch.lengths)
        return mu

    @torch.no_grad()
    def decode(
        self,
        z: torch.Tensor,
        temperature: float | None = None,
        class_name: str | None = None,
        seed: int | None = None,
        max_len: int | None = None,
    ) -> list[Sketch]:
        """Draw one sketch per latent row: reconstruction (z = encode(x)), variation, interpolation."""
        return self.generate(len(z), temperature, class_name, None, seed, max_len, z=z)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def generate(
        self,
        n: int,
        temperature: float | None = None,
        class_name: str | None = None,
        prefix: Sketch | Sequence[Sketch] | None = None,
        seed: int | None = None,
        max_len: int | None = None,
        z: torch.Tensor | None = None,
    ) -> list[Sketch]:
        """n sketches in pixel units; z ~ N(0, I) unless given; a prefix is fed first and kept exactly."""
        c, dev = self.config, self._device()
        tau = resolve_temperature(self, temperature)
        max_len = int(max_len or c.max_len)
        if n < 1 or max_len < 1:
            raise PlotterError(f"need n >= 1 and max_len >= 1 (got n={n}, max_len={max_len})")
        gen = make_generator(seed, dev)
        cidx = class_index(self.classes, class_name)
        was_training = self.training
        self.eval()
        if c.conditional and z is None:
            z = torch.randn(n, c.z_size, generator=gen, device=dev)
        z = z.to(dev) if (c.conditional and z is not None) else None
        cid = None if cidx is None else torch.full((n,), cidx, dtype=torch.long, device=dev)
        prefixes = stack_prefixes(prefix, n, self.scale)
        rows = self._sample_rows(n, z, cid, prefixes, tau, gen, max_len)
        self.train(was_training)
        items = [prefix] * n if isinstance(prefix, Sketch) else list(prefix or [None] * n)
        out = []
        for i in range(n):
            p = 0 if prefixes is None else len(prefixes[i])
            meta = {
                "model": self.kind,
                "temperature": tau,
                "class": class_name or (self.classes or [None])[0],
            }
            out.append(join_prefix(items[i], rows_to_sketch(rows[i][p:], self.scale, meta)))
        return out

    def _sample_rows(
        self,
        n: int,
        z: torch.Tensor | None,
        cid: torch.Tensor | None,
        prefixes: list[np.ndarray] | None,
        tau: float,
        gen: torch.Generator,
        max_len: int,
    ) -> list[np.ndarray]:
        """Step the decoder; forced rows come from the prefixes, the rest sampled; stops at max_len."""
        dev = self._device()
        extra = self._extra(z, cid, n, dev)  # (B, E)
        h = self._h0(z, n, dev)  # (1, B, Hd)
        prev = torch.tensor(START_TOKEN, device=dev).expand(n, 5).clone()  # (B, 5)
        plen = [0] * n if prefixes is None else [len(p) for p in prefixes]
        if max(plen) >= max_len:
            raise PlotterError(f"prefix has {max(plen)} points; max_len {max_len} leaves no room to continue")
        forced = torch.zeros(n, max(plen), 5, device=dev)
        for i, p in enumerate(prefixes or []):
            forced[i, : len(p)] = torch.from_numpy(p).to(dev)
        out = torch.zeros(n, max_len, 5, device=dev)
        out[:, :, 4] = 1.0
        done = torch.zeros(n, dtype=torch.bool, device=dev)
        for t in range(max_len):
            o, h = self.decoder(torch.cat([prev, extra], dim=-1).unsqueeze(1), h)  # (B, 1, Hd)
            row = sample_mdn(self.head(o[:, 0]), tau, gen)  # (B, 5)
            if t < forced.shape[1]:
                use = torch.tensor([t < k for k in plen], device=dev)
                row = torch.where(use.unsqueeze(-1), forced[:, t], row)
            row = torch.where(done.unsqueeze(-1), out[:, t], row)
            out[:, t] = row
            done |= row[:, 4] > 0.5
            if bool(done.all()):
                break
            prev = row
        return [r for r in out.cpu().numpy()]


register_model(SketchRNN.kind, SketchRNN, SketchRNNConfig)
