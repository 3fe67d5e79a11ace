"""``python -m ml reward|dpo|kto --config run.json``, the same as ``python -m ml.cli``."""

import sys

from ml.cli import main

if __name__ == "__main__":  # importing the module (pkgutil.walk_packages in the boundary test) runs nothing
    sys.exit(main())
