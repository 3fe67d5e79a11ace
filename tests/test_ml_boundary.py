"""`ml` must import without Django: it runs alone on GPU boxes."""

from __future__ import annotations

import pkgutil

import ml
from tests.conftest import clean_env, run_python

BLOCK_DJANGO = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'django', 'rest_framework', 'celery', 'config', 'core', 'annotation',
                                  'curation', 'training', 'models_registry'}:
            raise ImportError(f'ml imported {name}')
        return None
sys.meta_path.insert(0, Block())
"""


def test_every_ml_module_imports_with_django_unavailable():
    modules = ["ml"] + [m.name for m in pkgutil.walk_packages(ml.__path__, "ml.")]
    code = BLOCK_DJANGO + "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    code += "print('ok', len(sys.modules))"
    result = run_python(code, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_the_blocker_really_blocks():
    result = run_python(BLOCK_DJANGO + "import django", env=clean_env())
    assert result.returncode != 0
    assert "ml imported django" in result.stderr
