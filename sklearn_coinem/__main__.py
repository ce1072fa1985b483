"""Command line: ``python -m sklearn_coinem`` (see ``sklearn_coinem._cli``)."""

import sys

from sklearn_coinem._cli import main

if __name__ == "__main__":
    sys.exit(main())
