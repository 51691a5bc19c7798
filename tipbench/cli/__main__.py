"""`python -m tipbench.cli`, the same as `tipbench`."""

import sys

from tipbench.cli import main

sys.exit(main())
