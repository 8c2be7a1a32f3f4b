"""The renderer's one line-filling rule, as operation constants and schema literals use it, and the templates."""

from __future__ import annotations

from pathlib import Path

from support import codegen_tools

render = codegen_tools.load("render")
Piece, fill, call, literal = render.Piece, render.fill, render.call, render.literal


def test_fill_puts_as_many_pieces_on_a_line_as_fit():
    pieces = [Piece(f"{word},") for word in ("alpha", "beta", "gamma", "delta")]
    # "  alpha, beta," is 14 characters; adding " gamma," would make 21 > 16.
    assert fill(pieces, "  ", width=16) == ["  alpha, beta,", "  gamma, delta,"]


def test_a_piece_that_must_stand_alone_breaks_the_line_before_and_after_it():
    pieces = [Piece("a,"), Piece("b,"), Piece("long,", "long(\n    x\n),"), Piece("c,")]
    assert fill(pieces, "    ", width=80) == ["    a, b,", "    long(\n    x\n),", "    c,"]


def test_call_stays_on_one_line_when_it_fits_and_fills_below_its_head_when_not():
    assert call("f", ["1", "2"]) == "f(1, 2)"
    args = [f'"{n:02d}-argument"' for n in range(8)]
    text = call("Operation", args, width=40)
    assert text.splitlines()[0] == "Operation("
    assert text.splitlines()[-1] == ")"
    assert all(len(line) <= 40 for line in text.splitlines())
    # The same arguments, in order, each once.
    assert text.replace("\n", " ").count("-argument") == 8


def test_a_literal_too_wide_for_one_line_fills_its_entries_with_the_same_rule():
    value = {f"key{n}": n for n in range(12)}
    text = literal(value, width=40)
    lines = text.splitlines()
    assert (lines[0], lines[-1]) == ("{", "}")
    assert all(len(line) <= 40 for line in lines)
    assert lines[1] == '    "key0": 0, "key1": 1, "key10": 10,'  # keys sorted, as many as fit
    assert eval(text) == value  # noqa: S307 - our own literal, to check it is one


def test_template_lines_stay_within_the_project_width():
    templates = Path(codegen_tools.ROOT, "codegen", "templates")
    long_lines = [
        f"{path.relative_to(templates)}:{number}"
        for path in sorted(templates.rglob("*.jinja2"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > 120
    ]
    assert not long_lines


def test_an_argument_docstring_names_the_keys_its_object_or_items_take():
    ir = codegen_tools.load("ir")
    key = ir.KeySpec

    def param(**kw):
        return ir.ParamSpec(**{"wire": "meters", "name": "meters", "location": "body", "required": True, **kw})

    meters = param(type_hint="Sequence[Any]", description="What was used.", keys=(key("code", True), key("qty", False)))
    assert render.param_doc(meters) == "What was used. Keys ``code`` (required), ``qty``."
    items = param(type_hint="Sequence[Any]", description="", keys=(key("code", True),), item_keys=True)
    assert render.param_doc(items) == "Each item takes ``code`` (required)."
    assert render.param_doc(param(type_hint="str", description="")) == "The meters body value."
    whole = ir.ParamSpec("", "body", "whole_body", True, "Mapping[str, Any]", "")
    assert render.param_doc(whole) == "The JSON body."
