"""Gunicorn settings for every way Parley is served (`make run`, `make bench`, the fault tests).

Gunicorn reads this file from the directory it starts in; options given on its command line win.
"""

import gc


def post_worker_init(worker) -> None:
    """The app's modules, routes and compiled statements live as long as the worker: keep them out
    of garbage collection, or every full collection walks all of them again."""
    gc.freeze()
