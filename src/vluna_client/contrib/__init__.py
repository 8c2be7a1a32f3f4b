"""Optional glue for web frameworks and task queues; nothing here is imported by ``import vluna_client``.

- :mod:`vluna_client.contrib.flask`: the ``Vluna`` extension and its ``@vluna.gated`` decorator
  (``pip install 'vluna-client[flask]'``).
- :mod:`vluna_client.contrib.django`: an app with settings checks, ``@gated``, ``GatedViewMixin`` and a 402
  middleware (``pip install 'vluna-client[django]'``).
- :mod:`vluna_client.contrib.celery`: retry-safe idempotency keys and leases for Celery tasks (Celery itself is
  never imported).
"""
