"""``python -m tritforge.app``: the ``tritforge`` command line."""

import sys

from .cli import main

sys.exit(main())
