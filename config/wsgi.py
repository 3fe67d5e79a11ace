import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()

# The app's modules, models and URL patterns (views included) live as long as the process: freeze them out
# of the cyclic garbage collector. Unfrozen, each full collection walked ~130k objects, 40 ms in the middle
# of some request (measured with gc.callbacks around bench.queue_profile); gunicorn's --preload then forks
# workers that share these pages instead of touching them on every collection.
get_resolver().url_patterns  # noqa: B018  (imports every view module before the freeze)
gc.freeze()
