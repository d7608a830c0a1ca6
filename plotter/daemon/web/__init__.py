"""The web side of the daemon: a Starlette app served by uvicorn on a thread (see `app` and `server`)."""

from plotter.daemon.web.server import WebServer

__all__ = ["WebServer"]
