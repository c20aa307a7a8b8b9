"""``python -m fastws`` is the same as the ``fastws`` command."""
import sys

from fastws.cli import main

sys.exit(main())
