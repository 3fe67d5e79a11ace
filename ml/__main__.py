"""``python -m ml reward|dpo|kto --config run.json``, the same as ``python -m ml.cli`` (and as fast to exit)."""

from ml.cli import exit_fast, main

if __name__ == "__main__":  # importing the module (pkgutil.walk_packages in the boundary test) runs nothing
    exit_fast(main())
