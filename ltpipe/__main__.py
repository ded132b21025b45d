"""``python -m ltpipe``: the same as the ``ltpipe`` command."""

import sys

from ltpipe.cli import main

sys.exit(main())
