"""Helpers shared by the test suites, importable as ``support`` (pytest's ``pythonpath`` puts ``tests/`` on the path).

* ``svcauth``: the one test-side SVC-AUTH oracle; ``svcauth_vectors``: its known-answer vectors.
* ``mock_deployment``: constants, envelopes and clients for tests that mock the HTTP layer with ``responses``.
* ``local_server``: a tiny recording HTTP server on 127.0.0.1.
* ``emulator_wire``: hand-built (signed or tampered) requests to the emulator.
* ``apispec``: an independent reading of ``openapi/*.yaml`` for the API tests.
* ``operation_calls``: real client calls for every generated operation, in dependency order.
* ``readme_examples`` and ``markdown_examples``: the Python examples of README.md and the docs pages.
* ``codegen_tools``: the code generator's modules, imported as the checkout's ``codegen`` package.
* ``django_project``: the minimal Django project of the Django glue tests.
"""
