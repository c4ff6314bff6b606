"""Container entrypoint: the image runs this file with an absolute path, whatever the working directory."""

import sys

from rancher_deploy.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
