from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("categories", views.CategoryViewSet, basename="category")
router.register("departments", views.DepartmentViewSet, basename="department")
router.register("callbacks", views.CallbackViewSet, basename="callback")

app_name = "api"
urlpatterns = [
    *router.urls,
    path("alerts/", views.AlertView.as_view(), name="alerts"),
    path("stats/", views.StatsView.as_view(), name="stats"),
    re_path(r"^.*$", views.not_found),
]
