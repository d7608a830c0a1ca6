"""The plotter daemon: a persistent SQLite job queue feeding one or more GRBL plotters.

`service.Service` composes the parts (store -> models -> workers -> servers, stopped in reverse);
`store` holds jobs and their journals, `worker` runs one plotter, `device` talks GRBL through
`plotter.grbl`, `resume` finds where a machine stopped, `api`/`client` are the control socket and HTTP.
Importable without torch.
"""
