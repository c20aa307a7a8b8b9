"""Forwards to :mod:`fastws.api.user_stream`: the WS API moved into the :mod:`fastws.api` package.

This old module path is kept for one release so that existing imports keep working; it is the
same module object (``fastws.user_stream is fastws.api.user_stream``). Import from ``fastws.api.user_stream``:
this alias will go.
"""
import sys

from fastws.api import user_stream as _target
from fastws.api.user_stream import *  # noqa: F401,F403

sys.modules[__name__] = _target
