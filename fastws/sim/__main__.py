"""``python -m fastws.sim`` is the same as ``fastws sim``."""
import sys

from fastws.sim.cli import main

sys.exit(main())
