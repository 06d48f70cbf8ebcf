"""The ``reptune`` command: a thin face over the library (parse options, call one function, print).

One module per pipeline stage registers its commands on the shared ``app`` of :mod:`._app`;
importing them here registers them, in pipeline order, which is the order ``reptune --help``
lists them in. Bad input raises :class:`ReptuneError`; :func:`main` prints it as one line and
exits with 2 (``--debug`` shows the traceback instead).
"""

# isort: off
from . import extract, steer, tune, evaluate, interop, inspect, attack  # noqa: F401

# isort: on
from ._app import app, main

__all__ = ["app", "main"]
