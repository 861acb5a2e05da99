"""``python -m sertune.cli``: the ``sertune`` command line."""

import sys

from sertune.cli import main

sys.exit(main())
