"""A project configured as in production: Vluna credentials come from the environment, never from this file."""

import os

SECRET_KEY = "test-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
DATABASES: dict = {}
INSTALLED_APPS = ["vluna_client.contrib.django", "billing"]
MIDDLEWARE = ["vluna_client.contrib.django.VlunaMiddleware"]
ROOT_URLCONF = "shop.urls"
VLUNA = {"IDENTITY": "billing.views.current_payer"}
# The line under test; the control run of the tests sets SHOP_DEFAULT_RUNNER to see what happens without it.
if not os.environ.get("SHOP_DEFAULT_RUNNER"):
    TEST_RUNNER = "vluna_client.contrib.django.testing.EmulatorTestRunner"
