"""Names, not paths: what an API job may ask the daemon to load, decided by the daemon's config.

Why: a draw job used to carry a checkpoint path and a profile path, so anyone on the socket or the HTTP API
made the daemon open any file (and learnt from the reply whether it existed, or its first YAML key), could
bring its own 5000 x 5000 mm "bed", and every distinct path stayed loaded for good. Now a job names:

- `checkpoint`: a key of the config's `models:` (name -> checkpoint), or the file name of a shipped checkpoint
  (`sketch_rnn-cat.pt`, as the dashboard lists them); none -> the shipped one for the class;
- `profile`: a device's own profile or one listed in the config's `profiles:`;
- `paper`: a standard size (`a6`...`a2`, `letter`, `legal`, `tabloid`), a device's paper, or one listed in
  `papers:`.

Anything else is refused with the list of what is offered, without touching the file system.
"""

from __future__ import annotations

import re
from typing import Any

from plotter.errors import JobError
from plotter.limits import short

_CLASS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _'.-]{0,59}$")
STANDARD_PAPERS = ("a6", "a5", "a4", "a3", "a2", "letter", "legal", "tabloid")


def allowed_profiles(config: Any) -> list[str]:
    return _unique([d.profile for d in config.devices] + list(getattr(config, "profiles", ())))


def allowed_papers(config: Any) -> list[str]:
    extra = [d.paper for d in config.devices] + list(getattr(config, "papers", ()))
    return _unique(list(STANDARD_PAPERS) + [p.strip().lower() for p in extra])


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _name(params: dict, key: str, offered: list[str], what: str) -> None:
    value = params.get(key)
    if value is None:
        return
    if not isinstance(value, str) or value.strip().lower() not in [o.lower() for o in offered]:
        listed = ", ".join(offered) or "none"
        raise JobError(f"draw job: {key} {short(value, 40)} is not one this daemon offers ({what}: {listed})")


def _shipped() -> dict[str, str]:
    """Shipped checkpoints by file name: files in the daemon's own checkpoint directories, never a path."""
    from plotter.job.models import shipped_checkpoints

    return {p.name: str(p) for p in shipped_checkpoints()}


def resolve_draw_params(params: object, config: Any) -> dict:
    """Check a draw job's names against the config; the checkpoint name becomes the config's path."""
    if not isinstance(params, dict):
        raise JobError("a draw job needs a JSON object of parameters")
    out = dict(params)
    name = out.get("class", out.get("class_name"))
    if isinstance(name, str) and not _CLASS.match(name.strip()):
        raise JobError(f"draw job: class {short(name, 40)} is not a class name")
    _name(out, "profile", allowed_profiles(config), "profiles")
    _name(out, "paper", allowed_papers(config), "papers")
    checkpoint = out.get("checkpoint")
    if checkpoint is not None:
        models = {**_shipped(), **dict(config.models)}
        if not isinstance(checkpoint, str) or checkpoint not in models:
            listed = ", ".join(config.models) or "none configured"
            listed += "; or a shipped checkpoint's file name"
            raise JobError(
                f"draw job: checkpoint {short(checkpoint, 40)} is not one of this daemon's models ({listed});"
                " "
                f"jobs name a model from the daemon config's `models:`, never a path"
            )
        out["checkpoint"] = models[checkpoint]
    return out
