from django.urls import path

from curation import api_quality as api

# Included under api/v1/ (config/urls.py). Names are global like the other API routes.
urlpatterns = [
    path("projects/<int:project_id>/quality/", api.QualitySummary.as_view(), name="api-quality"),
    path("projects/<int:project_id>/quality/recompute/", api.QualityRecompute.as_view(), name="api-quality-recompute"),
    path(
        "projects/<int:project_id>/quality/annotators/",
        api.AnnotatorReliabilityList.as_view(),
        name="api-quality-annotators",
    ),
    path("projects/<int:project_id>/quality/items/", api.ItemAgreementList.as_view(), name="api-quality-items"),
    path(
        "projects/<int:project_id>/quality/items/<int:item_id>/adjudication/",
        api.ItemAdjudication.as_view(),
        name="api-quality-adjudication",
    ),
    path("projects/<int:project_id>/quality/review-queue/", api.ReviewQueue.as_view(), name="api-quality-review-queue"),
    path(
        "projects/<int:project_id>/quality/judgments/<int:judgment_id>/reviews/",
        api.JudgmentReviews.as_view(),
        name="api-quality-reviews",
    ),
    path("projects/<int:project_id>/quality/gold/", api.GoldSettings.as_view(), name="api-quality-gold"),
    path(
        "projects/<int:project_id>/quality/gold/items/<int:item_id>/",
        api.GoldItem.as_view(),
        name="api-quality-gold-item",
    ),
]
