from django.urls import path

from curation import views_gold, views_quality

app_name = "quality"

urlpatterns = [
    path("projects/<int:project_id>/quality/", views_quality.dashboard, name="dashboard"),
    path("projects/<int:project_id>/quality/recompute/", views_quality.recompute, name="recompute"),
    path("projects/<int:project_id>/quality/review/", views_quality.review_queue, name="review_queue"),
    path(
        "projects/<int:project_id>/quality/review/<int:judgment_id>/",
        views_quality.review_decide,
        name="review_decide",
    ),
    path("projects/<int:project_id>/quality/items/<int:item_id>/", views_quality.item_detail, name="item_detail"),
    path("projects/<int:project_id>/quality/gold/", views_gold.gold, name="gold"),
    path("projects/<int:project_id>/quality/gold/items/<int:item_id>/", views_gold.gold_item, name="gold_item"),
    path(
        "projects/<int:project_id>/quality/gold/items/<int:item_id>/unmark/",
        views_gold.gold_item_unmark,
        name="gold_item_unmark",
    ),
]
