"""Forwards to :mod:`fastws.api.user_events`: the WS API moved into the :mod:`fastws.api` package.

This old module path is kept for one release so that existing imports keep working; it is the
same module object (``fastws.uds_events is fastws.api.user_events``). Import from ``fastws.api.user_events``:
this alias will go.
"""
import sys

from fastws.api import user_events as _target
from fastws.api.user_events import *  # noqa: F401,F403

sys.modules[__name__] = _target
