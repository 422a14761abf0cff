from django.urls import path

from . import views

app_name = "finance"

urlpatterns = [
    path("", views.report, name="report"),
    path("export.csv", views.export, name="export"),
    path("budgets.csv", views.budgets_export, name="budgets_export"),
    path("summary/<slug:table>.csv", views.summary_export, name="summary_export"),
]
