"""Forwards to :mod:`fastws.api.base_operations`: the WS API moved into the :mod:`fastws.api` package.

This old module path is kept for one release so that existing imports keep working; it is the
same module object (``fastws.base_operations is fastws.api.base_operations``). Import from ``fastws.api.base_operations``:
this alias will go.
"""
import sys

from fastws.api import base_operations as _target
from fastws.api.base_operations import *  # noqa: F401,F403

sys.modules[__name__] = _target
