from tests.training.conftest import enqueued, tiny_base_dir  # noqa: F401  (shared fixtures)
