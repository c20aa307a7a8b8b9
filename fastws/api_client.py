"""Forwards to :mod:`fastws.api.client`: the WS API moved into the :mod:`fastws.api` package.

This old module path is kept for one release so that existing imports keep working; it is the
same module object (``fastws.api_client is fastws.api.client``). Import from ``fastws.api.client``:
this alias will go.
"""
import sys

from fastws.api import client as _target
from fastws.api.client import *  # noqa: F401,F403

sys.modules[__name__] = _target
