"""Forwards to :mod:`fastws.api.signing`: the WS API moved into the :mod:`fastws.api` package.

This old module path is kept for one release so that existing imports keep working; it is the
same module object (``fastws.signing is fastws.api.signing``). Import from ``fastws.api.signing``:
this alias will go.
"""
import sys

from fastws.api import signing as _target
from fastws.api.signing import *  # noqa: F401,F403

sys.modules[__name__] = _target
