"""`{{#expr:}}` arithmetic: MediaWiki's operators and precedence, PHP's rounding, no `eval`."""

from __future__ import annotations

import pytest

from corpus.wikitext.expr import ExprError, evaluate


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1+2*3", "7"),
        ("(1+2)*3", "9"),
        ("3645000/891.8 round 0", "4087"),
        ("1/3", "0.33333333333333"),
        ("2^3^2", "512"),
        ("10 div 4", "2.5"),
        ("7 mod 3", "1"),
        ("2.5 round 0", "3"),
        ("-2.5 round 0", "-3"),
        ("1 = 1 and 2 > 1", "1"),
        ("not 0", "1"),
        ("1e3 + .5", "1000.5"),
    ],
)
def test_values(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize("expression", ["x + 1", "1 +", "(1", "1/0", "__import__('os')", "1" * 2000])
def test_what_is_not_arithmetic_is_an_error(expression):
    with pytest.raises(ExprError):
        evaluate(expression)
