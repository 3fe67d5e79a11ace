from django.contrib.auth import views as auth_views
from django.urls import path

from core import views
from core.forms import ThrottledAuthenticationForm

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=ThrottledAuthenticationForm),
        name="login",
    ),
    path("accounts/token/", views.api_token, name="api_token"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", views.site_audit, name="site_audit"),
    path("projects/<int:project_id>/audit/", views.project_audit, name="project_audit"),
]
