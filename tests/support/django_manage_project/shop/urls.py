from billing import views
from django.urls import path

urlpatterns = [path("summarize", views.summarize)]
