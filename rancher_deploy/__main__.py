"""`python -m rancher_deploy` runs the same program as the console script."""

import sys

from rancher_deploy.cli import main

sys.exit(main())
