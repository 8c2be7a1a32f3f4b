from django.urls import path

from support.django_project import views
from support.readme_examples import load_module

# The README's views.py, run as written.
readme_views = load_module("Django", 1, "vluna_readme_django_views")

urlpatterns = [
    path("summarize", readme_views.summarize),
    path("boom", views.boom),
    path("free", views.free),
    path("delegate", views.delegate),
    path("plain", views.plain),
    path("mixin", views.MixinView.as_view()),
    path("method", views.MethodDecoratedView.as_view()),
]
