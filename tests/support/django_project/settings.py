"""A minimal Django project for the contrib tests: no database, sessions in signed cookies."""

SECRET_KEY = "test-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
DATABASES: dict = {}
INSTALLED_APPS = ["vluna_client.contrib.django"]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "vluna_client.contrib.django.VlunaMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
ROOT_URLCONF = "support.django_project.urls"
# Credentials come from the VLUNA_* environment (or override_settings), as in the README.
VLUNA = {"IDENTITY": "vluna_readme_django_views.current_payer"}
