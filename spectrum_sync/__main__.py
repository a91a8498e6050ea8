"""``python -m spectrum_sync``: the ``spectrum-sync`` command line."""

import sys

from spectrum_sync.cli import main

sys.exit(main())
