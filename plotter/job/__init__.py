"""The job layer: sample -> plan -> G-code, the one pipeline that `plotter.cli` and `plotter.daemon` both run.

Torch-free at import (models load on first use through `plotter.job.models.ModelCache`). Modules:
`params` (checked job parameters, checkpoint search), `models` (model cache, checkpoint discovery),
`plan` (layout, merge, simplify, order, emit, estimate: `plan_job`), `pipeline` (sampling and planning of a
draw job, its JSON form in the store), `draw` (a foreground run: previews, a stream on its own thread, the
dry run on the simulated GRBL, completion of a user's partial sketch as one kind of draw).
"""
