"""Forwards to :mod:`fastws.api.protocol`: the WS API moved into the :mod:`fastws.api` package.

This old module path is kept for one release so that existing imports keep working; it is the
same module object (``fastws.api_protocol is fastws.api.protocol``). Import from ``fastws.api.protocol``:
this alias will go.
"""
import sys

from fastws.api import protocol as _target
from fastws.api.protocol import *  # noqa: F401,F403

sys.modules[__name__] = _target
