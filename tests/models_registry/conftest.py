from tests.training.conftest import enqueued, fast_ticks, media, tiny_base_dir  # noqa: F401  (shared fixtures)
