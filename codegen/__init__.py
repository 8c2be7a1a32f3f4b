"""The code generator: ``openapi/*.yaml`` in, the client's generated code, reference and emulator data out.

It runs in three stages, one module each, so that every decision about the output is made in one place:

* reading (:mod:`codegen.spec`, over :mod:`codegen.resolver` and :mod:`codegen.validation`): the spec documents
  become one typed model of every operation (:mod:`codegen.ir`), or a :class:`~codegen.resolver.SpecError` when
  they ask for something the generator will not guess about; what the specs do not say about the Python code (an
  area's hand-written mixins) comes from :mod:`codegen.config`;
* rendering (:mod:`codegen.render` and the Jinja templates in ``codegen/templates``): that model becomes text;
* writing (:mod:`codegen.generate` for ``src/vluna_client/_generated``, ``docs/api.md`` and ``api/surface.json``;
  :mod:`codegen.emulator_spec` for the emulator's ``operations.json``).

Run it from the checkout's root through nox (``nox -s codegen``, which pins the tools' versions) or as
``python -m codegen.generate`` and ``python -m codegen.emulator_spec``. It is a development tool: it does not ship
in the wheel.
"""
