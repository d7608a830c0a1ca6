"""One training loop for every model: schedules, clipping, validation, early stop, checkpoints, resume, DDP.

Model contract:
    model.forward(batch, step) -> dict[str, Tensor]   with "loss" (the objective) and any parts to log;
                                                      may add "val_loss", a step-independent figure that
                                                      validation/early stopping use instead of "loss".
    model.configure_optimizer(train_cfg) -> torch.optim.Optimizer
    model.kind / .config / .scale / .classes          (see plotter.models.checkpoint)
forward (not a differently named method) carries the loss so DistributedDataParallel syncs gradients.

Files in `cfg.out`: best.pt and last.pt (plotter checkpoints), resume.pt (optimizer + history for --resume),
history.json and loss.png; with keep_every, step-NNNNNN.pt too (to judge checkpoints by their samples, which
validation loss does not see). Only rank 0 writes.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from plotter.errors import PlotterError
from plotter.models.checkpoint import load_resume, save_checkpoint, save_resume
from plotter.training import ddp
from plotter.training.curves import plot_curves
from plotter.training.data import BucketBatcher

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    steps: int = 20_000  # optimizer steps at most
    batch_size: int = 100
    lr: float = 1e-3
    min_lr: float = 1e-5
    lr_schedule: str = "exp-decay"  # "exp-decay" (Sketch-RNN), "warmup-cosine" (transformer) or "constant"
    lr_decay: float = 0.9999  # per-step factor for exp-decay
    warmup_steps: int = 500  # for warmup-cosine
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max global grad norm; 0 = off
    eval_every: int = 500  # steps between validations (and checkpoints)
    keep_every: int = 0  # also keep step-NNNNNN.pt at validations on multiples of this; 0 = only best/last
    patience: int = 10  # validations without improvement before stopping; 0 = never stop early
    max_minutes: float | None = (
        None  # wall-clock budget; the loop stops (after a final validation) when spent
    )
    seed: int = 0
    num_threads: int | None = 1  # torch intra-op threads (2 ran 4-9x slower than 1 on this shared CPU)
    bf16: bool = False  # forward under torch.autocast(bfloat16): AMX matmuls, pays from width ~256 up
    cosine_by_time: bool = False  # warmup-cosine follows max(step, wall-clock) progress toward max_minutes
    log_every: int = 50  # steps between progress lines
    out: str = "runs/run"  # run directory
    device: str = "cpu"


def lr_at(step: int, cfg: TrainConfig, minutes: float = 0.0) -> float:
    """Learning rate for `step` (stateless, so resuming needs no scheduler state).

    With `cosine_by_time` the cosine runs on whichever is further along, steps or `minutes` of
    `max_minutes`: on a CPU shared with others the step rate swings several-fold, and a run cut by its time
    budget should still end at the low learning rate, not in the middle of the schedule.
    """
    if cfg.lr_schedule == "exp-decay":
        return max(cfg.min_lr, cfg.lr * cfg.lr_decay**step)
    if cfg.lr_schedule == "warmup-cosine":
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        frac = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
        if cfg.cosine_by_time and cfg.max_minutes:
            frac = max(frac, min(1.0, minutes / cfg.max_minutes))
        return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * frac))
    if cfg.lr_schedule == "constant":
        return cfg.lr
    raise PlotterError(f"unknown lr schedule {cfg.lr_schedule!r}; use exp-decay, warmup-cosine or constant")


@dataclass
class TrainResult:
    steps: int
    best_val: float
    best_step: int
    minutes: float
    stopped: str  # "steps", "early-stop", "time-budget"
    out: Path


@torch.no_grad()
def evaluate_loss(
    model: torch.nn.Module, batches: BucketBatcher, step: int, device: torch.device
) -> dict[str, float]:
    """Mean of every loss part over the validation batches, weighted by batch size."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    total = 0
    for batch in batches:
        out = model(batch.to(device), step)
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(batch)
        total += len(batch)
    model.train(was_training)
    return {k: v / max(total, 1) for k, v in sums.items()}


def _fmt(parts: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in parts.items() if k != "step")


def fit(
    model: torch.nn.Module,
    train_batches: BucketBatcher,
    valid_batches: BucketBatcher,
    cfg: TrainConfig,
    meta: dict | None = None,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> TrainResult:
    """Train `model` until `cfg.steps`, early stopping or the wall budget; returns where the best model is."""
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    info, device = ddp.setup(cfg.device)
    train_batches.rank, train_batches.world_size = info.rank, info.world_size
    out = Path(cfg.out)
    model.to(device)
    opt = model.configure_optimizer(cfg)
    history: dict = {"train": [], "valid": [], "config": asdict(cfg)}
    step, best_val, best_step, bad_evals, spent = 0, math.inf, -1, 0, 0.0
    if resume:
        state = load_resume(out / "resume.pt")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, best_val, best_step = state["step"], state["best_val"], state["best_step"]
        bad_evals, spent, history = state["bad_evals"], state["minutes"], json.loads(state["history"])
        train_batches.epoch = state["epoch"]
        echo(f"resumed {out} at step {step} (best valid {best_val:.4f} at step {best_step})")
    net = ddp.wrap(model, info, device)
    meta = dict(meta or {})
    t0, stopped = time.monotonic(), "steps"
    minutes = lambda: spent + (time.monotonic() - t0) / 60.0  # noqa: E731
    t_log, s_log = time.monotonic(), step
    stream = train_batches.forever()
    net.train()

    def save_all(tag: str) -> None:
        if not info.is_main:
            return
        metrics = {"step": step, "best_val": best_val, "best_step": best_step, "minutes": round(minutes(), 2)}
        save_checkpoint(out / "last.pt", model, provenance=meta, metrics=metrics)
        if tag == "best":
            save_checkpoint(out / "best.pt", model, provenance=meta, metrics=metrics)
        if cfg.keep_every and step % cfg.keep_every == 0:
            save_checkpoint(out / f"step-{step:06d}.pt", model, provenance=meta, metrics=metrics)
        save_resume(
            out / "resume.pt",
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "step": step,
                "best_val": best_val,
                "best_step": best_step,
                "bad_evals": bad_evals,
                "minutes": minutes(),
                "epoch": train_batches.epoch,
                "history": json.dumps(history),
            },
        )
        (out / "history.json").write_text(json.dumps(history, indent=1))
        plot_curves(
            history, out / "loss.png", title=f"{getattr(model, 'kind', '')} {', '.join(model.classes)}"
        )

    while step < cfg.steps:
        lr = lr_at(step, cfg, minutes())
        for group in opt.param_groups:
            group["lr"] = lr
        with torch.autocast(device.type, torch.bfloat16, enabled=cfg.bf16):
            parts = net(next(stream).to(device), step)
        opt.zero_grad(set_to_none=True)
        parts["loss"].backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        parts = {k: float(v.detach()) for k, v in parts.items()}
        if not math.isfinite(parts["loss"]):
            raise PlotterError(f"training diverged at step {step} (loss {parts['loss']}); lower --lr")
        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.monotonic()
            rate = (step - s_log) / max(now - t_log, 1e-9)
            t_log, s_log = now, step
            row = {"step": step, **{k: round(v, 5) for k, v in parts.items()}, "lr": lr, "steps_per_s": rate}
            history["train"].append(row)
            if info.is_main:
                eta = (cfg.steps - step) / max(rate, 1e-9) / 60.0
                budget = f" budget {minutes():.1f}/{cfg.max_minutes:g} min" if cfg.max_minutes else ""
                echo(f"step {step}/{cfg.steps} {_fmt(row)} | {rate:.2f} it/s ETA {eta:.1f} min{budget}")
        out_of_time = False
        if cfg.max_minutes is not None and step % cfg.log_every == 0:  # checked in step on every rank
            out_of_time = ddp.any_true(minutes() >= cfg.max_minutes, info, device)
        if step % cfg.eval_every == 0 or step == cfg.steps or out_of_time:
            val = evaluate_loss(model, valid_batches, step, device)
            score = ddp.all_reduce_mean(val.get("val_loss", val["loss"]), info, device)
            history["valid"].append({"step": step, **{k: round(v, 5) for k, v in val.items()}})
            improved = score < best_val
            if improved:
                best_val, best_step, bad_evals = score, step, 0
            else:
                bad_evals += 1
            save_all("best" if improved else "last")
            if info.is_main:
                echo(
                    f"valid @ {step}: {_fmt(val)} "
                    + ("(best)" if improved else f"(no gain {bad_evals}/{cfg.patience})")
                )
            if cfg.patience and bad_evals >= cfg.patience:
                stopped = "early-stop"
                break
        if out_of_time:
            stopped = "time-budget"
            break
    ddp.barrier(info)
    ddp.teardown(info)
    return TrainResult(step, best_val, best_step, minutes(), stopped, out)
