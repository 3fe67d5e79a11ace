from django.contrib import admin
from django.urls import include, path

# The split view serves its init script as a file, so the docs page works under our strict CSP.
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("", include("core.urls")),
    path("", include("annotation.urls")),
    path("", include("curation.urls")),
    path("", include("curation.urls_quality")),
    path("", include("training.urls")),
    path("", include("models_registry.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("annotation.urls_api")),
    path("api/v1/", include("curation.urls_api")),
    path("api/v1/", include("curation.urls_api_quality")),
    path("api/v1/", include("models_registry.urls_api")),
    path("api/v1/", include("training.urls_api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
