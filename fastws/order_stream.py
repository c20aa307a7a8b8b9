"""Forwards to :mod:`fastws.api.order_stream`: the WS API moved into the :mod:`fastws.api` package.

This old module path is kept for one release so that existing imports keep working; it is the
same module object (``fastws.order_stream is fastws.api.order_stream``). Import from ``fastws.api.order_stream``:
this alias will go.
"""
import sys

from fastws.api import order_stream as _target
from fastws.api.order_stream import *  # noqa: F401,F403

sys.modules[__name__] = _target
