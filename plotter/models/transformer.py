"""Sketch Transformer: a decoder-only GPT over stroke-5 rows with a mixture-density output.

nanoGPT's `model.py`, adapted to pen strokes: each input row (dx, dy, p1, p2, p3) becomes a Linear embedding
of the offset plus an embedding of the pen state plus a learned position; pre-LayerNorm blocks with causal
self-attention; the last hidden state feeds the same mixture-density head and loss as Sketch-RNN (`mdn.py`),
so the two models are trained, sampled, saved and evaluated the same way.

Sampling keeps a key/value cache per layer (preallocated, batched), so each new row costs one query against
the cached keys instead of a full forward pass over the whole prefix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from plotter.errors import PlotterError, SketchFormatError
from plotter.models.checkpoint import register_model
from plotter.models.knots import KNOT_STEP_PX, cap_knots
from plotter.models.mdn import MDNHead, MDNParams, mdn_loss, sample_mdn
from plotter.models.sampling import (
    DEFAULT_TEMPERATURE,
    class_index,
    join_prefix,
    make_generator,
    prefix_to_stroke5,
    resolve_temperature,
    rows_to_sketch,
)
from plotter.sketch import Sketch

if TYPE_CHECKING:
    from plotter.models.batch import Batch


@dataclass
class TransformerConfig:
    block_size: int = 251  # rows attended: start token + up to 250 points (training sets longest sketch + 1)
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads per block; n_embd must divide by it
    n_embd: int = 128  # width of the residual stream
    dropout: float = 0.1  # on embeddings, attention weights, residual branches (training only)
    n_mixtures: int = 20  # bivariate Gaussians in the offset distribution
    bias: bool = True  # biases in Linear layers and LayerNorms
    n_classes: int = 0  # > 0 adds a class embedding for class-conditional training; 0 = one class
    input_noise: float = 0.0  # std of Gaussian noise on input offsets (training only; targets stay clean)
    pen_weight: float = 1.0  # pen cross-entropy weight in the training loss (logged NLL unweighted)
    self_feed: float = 0.0  # share of input offsets replaced by the model's own samples (training only)
    self_feed_temperature: float = 0.4  # temperature of those samples: the one sampling will use
    xy_freqs: int = 0  # > 0: where the pen is (running sum of offsets) enters as sin/cos at this many scales


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        if cfg.n_embd % cfg.n_head:
            raise ValueError(f"n_embd={cfg.n_embd} is not divisible by n_head={cfg.n_head}")
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.n_head, self.dropout = cfg.n_head, cfg.dropout

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        hs = C // self.n_head
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if cache is None:
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
            )
        else:
            k, v = cache.append(layer, k, v)  # (B, nh, pos+T, hs): everything seen so far
            start = k.size(2) - T
            if T == 1:  # one new query attends to every cached key: no mask needed
                y = F.scaled_dot_product_attention(q, k, v)
            else:  # query i (at absolute position start+i) sees keys 0..start+i
                mask = torch.ones(T, k.size(2), dtype=torch.bool, device=x.device).tril(diagonal=start)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class KVCache:
    """Keys and values of every layer, preallocated for `block_size` positions, for incremental decoding."""

    def __init__(self, cfg: TransformerConfig, batch: int, device: torch.device, dtype: torch.dtype) -> None:
        shape = (cfg.n_layer, batch, cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0  # positions filled (same for every layer once a forward pass is complete)
        self.xy = torch.zeros(batch, 2, device=device, dtype=dtype)  # pen position after the cached rows
        self._n_layer = cfg.n_layer

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.pos + k.size(2)
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        if layer == self._n_layer - 1:
            self.pos = end
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def keep(self, rows: torch.Tensor) -> None:
        """Drop finished sequences from the batch (rows: indices of the ones still drawing).

        Compacts in place, copying only the filled positions: costs what is cached, not block_size.
        """
        m, end = len(rows), self.pos
        self.k[:, :m, :, :end] = self.k[:, rows, :, :end]
        self.v[:, :m, :, :end] = self.v[:, rows, :, :end]
        self.k, self.v = self.k[:, :m], self.v[:, :m]
        self.xy = self.xy[rows]


def xy_features(xy: torch.Tensor, n_freqs: int) -> torch.Tensor:
    """(..., 2) pen positions (normalized units) -> (..., 2 + 4 * n_freqs) features.

    Why: offsets alone tell the model where the pen is only through a sum over every earlier row, which
    attention does poorly; with the position as sin/cos at wavelengths 0.5..16 units (about 16..500 px for
    cats), a dot product between two rows measures how near they are, so "this spot is drawn already" and
    "the cat is closed" are one attention step away.
    """
    wavelengths = 16.0 * 0.5 ** torch.arange(n_freqs, device=xy.device, dtype=xy.dtype)  # (F,)
    ang = xy[..., None] * (2 * math.pi / wavelengths)  # (..., 2, F)
    feats = torch.cat([ang.sin(), ang.cos()], dim=-1).flatten(-2)  # (..., 4F)
    return torch.cat([xy / 8.0, feats], dim=-1)


def _map_params(p: MDNParams, fn: Callable[[torch.Tensor], torch.Tensor]) -> MDNParams:
    """The same function applied to every mixture tensor (select rows, flatten leading dims)."""
    return MDNParams(*(fn(t) for t in (p.logit_pi, p.mu, p.log_sigma, p.rho, p.pen_logits)))


def _select(p: MDNParams, rows: torch.Tensor) -> MDNParams:
    """The (B, ...) mixture params of some batch rows."""
    return _map_params(p, lambda t: t[rows])


class SketchTransformer(nn.Module):
    """GPT over stroke-5 rows: predicts row t+1's offset mixture and pen state from rows 0..t."""

    kind = "transformer"
    default_temperature: float = DEFAULT_TEMPERATURE  # a checkpoint's "sampling" entry overrides it
    knot_cap: int = 0  # > 0: this many tiny pen-down steps in a row lift the pen (checkpoint "sampling")
    pen_temperature: float | None = None  # the pen's own tau (None: the offsets'); checkpoint "sampling"

    def __init__(
        self, config: TransformerConfig, scale: float = 1.0, classes: list[str] | None = None
    ) -> None:
        super().__init__()
        self.config = cfg = config
        self.scale = float(scale)  # data units per model unit: std of the training offsets
        self.classes = list(classes or [])  # class names the model was trained on
        self.wxy = nn.Linear(2, cfg.n_embd, bias=cfg.bias)  # offset (dx, dy) -> d
        self.wpe_pen = nn.Embedding(3, cfg.n_embd)  # pen state p1/p2/p3 -> d
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)  # learned position
        self.wce = nn.Embedding(cfg.n_classes, cfg.n_embd) if cfg.n_classes > 0 else None
        n_xy = 2 + 4 * cfg.xy_freqs  # pen position features (xy_features)
        self.wxy_abs = nn.Linear(n_xy, cfg.n_embd, bias=cfg.bias) if cfg.xy_freqs > 0 else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.head = MDNHead(cfg.n_embd, cfg.n_mixtures)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ forward / loss
    def _embed(
        self, x: torch.Tensor, class_ids: torch.Tensor | None, cache: KVCache | None = None
    ) -> torch.Tensor:
        T = x.size(1)
        pos0 = 0 if cache is None else cache.pos
        if pos0 + T > self.config.block_size:
            raise ValueError(f"{pos0 + T} rows is longer than block_size={self.config.block_size}")
        pos = torch.arange(pos0, pos0 + T, device=x.device)
        h = self.wxy(x[..., :2]) + self.wpe_pen(x[..., 2:5].argmax(-1)) + self.wpe(pos)  # (B, T, d)
        if self.wxy_abs is not None:
            xy = x[..., :2].cumsum(dim=1)  # (B, T, 2): where the pen is after each row
            if cache is not None:
                xy = xy + cache.xy[:, None]
                cache.xy = xy[:, -1]
            h = h + self.wxy_abs(xy_features(xy, self.config.xy_freqs))
        if self.wce is not None:
            if class_ids is None:
                raise ValueError("this model is class-conditional: pass class_ids")
            h = h + self.wce(class_ids)[:, None, :]
        return self.drop(h)

    def mdn_params(
        self, x: torch.Tensor, class_ids: torch.Tensor | None = None, cache: KVCache | None = None
    ) -> MDNParams:
        """x: (B, T, 5) stroke-5 rows from the start token -> mixture params of the next rows, (B, T)."""
        h = self._embed(x, class_ids, cache)
        for i, block in enumerate(self.blocks):
            h = block(h, cache, i)
        return self.head(self.ln_f(h))

    def forward(self, batch: Batch, step: int = 0) -> dict[str, torch.Tensor]:
        """Masked mixture + pen NLL per valid row: the same loss (mdn.py) as Sketch-RNN's reconstruction term.

        The loss lives in `forward` so DistributedDataParallel syncs gradients (see plotter.training.loop).
        """
        x = batch.x  # (B, T+1, 5)
        if self.training and self.config.input_noise > 0:
            # why: sampling feeds the model its own slightly-off offsets; clean teacher forcing lets it copy
            # the last step size, and at low temperature a run of tiny steps then feeds itself (exposure bias)
            x = x.clone()
            x[:, 1:, :2] += self.config.input_noise * torch.randn_like(x[:, 1:, :2])
        cids = batch.class_ids if self.wce is not None else None
        if self.training and self.config.self_feed > 0:
            x = self._self_feed(x, cids)
        params = self.mdn_params(x, cids)
        out = mdn_loss(params, batch.y, batch.mask)
        out["loss"] = out["offset_nll"] + self.config.pen_weight * out["pen_nll"]  # weight 1: the NLL
        return out

    @torch.no_grad()
    def _self_feed(self, x: torch.Tensor, cids: torch.Tensor | None) -> torch.Tensor:
        """Parallel scheduled sampling: one teacher-forced pass samples every next row at the sampling
        temperature, and a random share of the input offsets is swapped for those samples (pen states and
        targets stay real). Why: at tau 0.4 a sample's own small, unsure steps make a context training never
        showed, and the model wanders on in it; here it learns to return to the stroke from its own errors."""
        b, t1 = x.shape[:2]
        p = self.mdn_params(x, cids)  # (B, T+1): the row after each input row
        flat = _map_params(p, lambda v: v.reshape(b * t1, *v.shape[2:]))  # (B*(T+1), ...)
        rows = sample_mdn(flat, self.config.self_feed_temperature).reshape(b, t1, 5)  # (B, T+1, 5)
        swap = torch.rand(b, t1 - 1, 1, device=x.device) < self.config.self_feed  # (B, T, 1)
        out = x.clone()
        out[:, 1:, :2] = torch.where(swap, rows[:, :-1, :2].to(x.dtype), x[:, 1:, :2])
        return out

    def compute_loss(self, batch: Batch, step: int = 0) -> dict[str, torch.Tensor]:
        return self(batch, step)

    def configure_optimizer(self, train_cfg: object) -> torch.optim.Optimizer:
        """AdamW with weight decay on matrices (Linear weights, embeddings) only, as in nanoGPT."""
        decay = [p for p in self.parameters() if p.requires_grad and p.dim() >= 2]
        no_decay = [p for p in self.parameters() if p.requires_grad and p.dim() < 2]
        groups = [
            {"params": decay, "weight_decay": float(getattr(train_cfg, "weight_decay", 0.1))},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        lr = float(getattr(train_cfg, "lr", 1e-3))
        betas = tuple(getattr(train_cfg, "betas", (0.9, 0.95)))
        # fused: one kernel over all parameters instead of ~10 small ops per tensor (CPU and CUDA)
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample_rows(
        self,
        n: int,
        temperature: float = 0.4,
        class_ids: torch.Tensor | None = None,
        prefix: torch.Tensor | None = None,
        max_len: int | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> tuple[list[np.ndarray], list[bool]]:
        """Draw `n` sketches as normalized stroke-5 rows (prefix excluded, end row included if drawn).

        `prefix`: (P, 5) normalized point rows every sketch continues. Every sketch stops at its own end row
        or after `max_len` points in all (prefix included, at most block_size - 1). Random numbers are drawn
        for the live sketches only, in index order, so the cached and the uncached paths draw the same ones;
        finished sketches leave the cache once at most half of its rows are live (compaction costs a copy).
        """
        dev = self.wpe.weight.device
        limit = self.config.block_size - 1
        limit = limit if max_len is None else min(int(max_len), limit)
        start = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]], device=dev)
        rows0 = start if prefix is None else torch.cat([start, prefix.to(dev, torch.float32)])  # (1+P, 5)
        if len(rows0) - 1 >= limit:
            raise SketchFormatError(f"prefix has {len(rows0) - 1} points; this model draws at most {limit}")
        seq = rows0.expand(n, -1, -1).contiguous()  # (n, 1+P, 5)
        cids = class_ids.to(dev) if class_ids is not None else None
        cache = KVCache(self.config, n, dev, seq.dtype) if use_cache else None
        held = torch.arange(n, device=dev)  # sketch index of each row in the model's batch (and cache)
        live = torch.ones(n, dtype=torch.bool, device=dev)  # which held rows are still drawing
        out = torch.zeros(n, limit, 5, device=dev)
        lengths, ended = [0] * n, [False] * n
        runs = torch.zeros(n, dtype=torch.long, device=dev)  # tiny pen-down steps in a row, per held row
        params = self.mdn_params(seq, cids, cache)
        for t in range(len(rows0) - 1, limit):  # t = points drawn so far
            idx = live.nonzero().squeeze(1)
            p_last = _select(params.at(-1), idx)
            row = sample_mdn(p_last, temperature, generator, self.pen_temperature)  # (live, 5): live only
            if self.knot_cap > 0:
                runs = cap_knots(row, runs, idx, self.knot_cap, KNOT_STEP_PX / self.scale)
            out[held[idx], t] = row
            stop = row[:, 4] > 0.5
            for i in held[idx[stop]].tolist():
                lengths[i], ended[i] = t, True
            live[idx[stop]] = False
            if not bool(live.any()) or t + 1 == limit:
                break
            nxt = seq.new_zeros(len(held), 5)  # finished rows get a dummy input; their outputs are never used
            nxt[idx] = row
            if cache is None or int(live.sum()) <= len(held) // 2:  # compact the batch (cache: rarely)
                keep = live.nonzero().squeeze(1)
                held, live, nxt, runs = held[keep], live[keep], nxt[keep], runs[keep]
                cids = None if cids is None else cids[keep]
                if cache is None:
                    seq = seq[keep]
                else:
                    cache.keep(keep)
            if cache is not None:
                params = self.mdn_params(nxt[:, None], cids, cache)
            else:
                seq = torch.cat([seq, nxt[:, None]], dim=1)
                params = self.mdn_params(seq, cids)
        for i in held[live].tolist():
            if not ended[i]:
                lengths[i] = limit  # cut at the length limit: did not end by itself
        p0 = len(rows0) - 1
        arr = out.cpu().numpy().astype(np.float64)
        return [arr[i, p0 : lengths[i] + int(ended[i])] for i in range(n)], ended  # end row kept if drawn

    def _class_ids(self, n: int, class_name: str | None, gen: torch.Generator) -> torch.Tensor | None:
        """Class ids to condition on (None for a one-class model); an unknown name is a clear error."""
        idx = class_index(self.classes, class_name) if (class_name is not None and self.classes) else None
        if self.wce is None:
            return None
        if idx is None:  # class-conditional model, no class asked for: a random class per sketch
            return torch.randint(0, self.config.n_classes, (n,), generator=gen, device=gen.device)
        return torch.full((n,), idx, dtype=torch.long)

    @torch.no_grad()
    def generate(
        self,
        n: int,
        temperature: float | None = None,
        class_name: str | None = None,
        prefix: Sketch | None = None,
        seed: int | None = None,
        max_len: int | None = None,
        use_cache: bool = True,
    ) -> list[Sketch]:
        """Draw `n` sketches (unit "px", data scale); with `prefix`, each starts with exactly its strokes."""
        if n < 1:
            raise PlotterError(f"number of sketches must be >= 1, got {n}")
        if max_len is not None and max_len < 1:
            raise PlotterError(f"max_len must be >= 1, got {max_len}")
        tau = resolve_temperature(self, temperature)
        if prefix is not None and prefix.unit != "px":
            raise SketchFormatError(f"a prefix must be in model space (unit 'px'), got {prefix.unit!r}")
        gen = make_generator(seed, self.wpe.weight.device)
        cids = self._class_ids(n, class_name, gen)
        pre = None
        if prefix is not None and not prefix.is_empty():
            pre = torch.from_numpy(prefix_to_stroke5(prefix, self.scale))
        was_training = self.training
        self.eval()
        try:
            rows, ended = self.sample_rows(n, tau, cids, pre, max_len, gen, use_cache)
        finally:
            self.train(was_training)
        out = []
        for i, r in enumerate(rows):
            name = self.classes[int(cids[i])] if cids is not None and self.classes else class_name
            if name is None and len(self.classes) == 1:
                name = self.classes[0]
            meta = {"model": self.kind, "temperature": tau, "class": name}
            out.append(join_prefix(prefix, rows_to_sketch(r, self.scale, meta)))
        return out


register_model(SketchTransformer.kind, SketchTransformer, TransformerConfig)
