"""`python -m recurringjob.cli`: the same as the `recurringjob` console command."""

import sys

from recurringjob.cli import main

sys.exit(main())
