from django.urls import path

from . import views

urlpatterns = [
    path("complete", views.CompleteView.as_view(), name="complete"),
    path("chat/completions", views.ChatCompletionsView.as_view(), name="chat-completions"),
    path("models", views.ModelsView.as_view(), name="models"),
    path("health", views.HealthView.as_view(), name="health"),
    path("providers/status", views.ProviderStatusView.as_view(), name="providers-status"),
]
