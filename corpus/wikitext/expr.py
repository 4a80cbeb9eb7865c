"""MediaWiki's `{{#expr: ...}}`: arithmetic on numbers, as data templates use it (a population over
an area, `round 0`). A small recursive-descent evaluator, never Python's `eval`: numbers, `+ - * /`,
`div`, `mod`, `^`, `round`, unary signs, parentheses, comparisons (`= != <> < > <= >=`) and
`and`/`or`/`not`. Anything else (an unexpanded template, a word) makes the expression invalid, and
the caller drops it as MediaWiki would show an error.
"""

from __future__ import annotations

import math
import re

_TOKEN_RE = re.compile(
    r"\s*(\d+(?:\.\d*)?(?:e[-+]?\d+)?|\.\d+|<=|>=|!=|<>|div|mod|round|and|or|not|[-+*/^()=<>])", re.I
)
MAX_CHARS = 1000  # a data template's expression is a line; longer is not arithmetic anyone reads

# Binary operators by precedence, lowest first (MediaWiki's order: or, and, comparisons, round,
# + -, * / div mod, ^).
_LEVELS: tuple[tuple[str, ...], ...] = (
    ("or",),
    ("and",),
    ("=", "!=", "<>", "<", ">", "<=", ">="),
    ("round",),
    ("+", "-"),
    ("*", "/", "div", "mod"),
    ("^",),
)


class ExprError(ValueError):
    pass


def evaluate(text: str) -> str:
    """The value of an expression as MediaWiki prints it (`7`, `0.33333333333333`); ExprError if invalid."""
    if len(text) > MAX_CHARS:
        raise ExprError("too long")
    tokens: list[str] = []
    pos = 0
    text = text.replace("−", "-").strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise ExprError(f"unexpected {text[pos : pos + 10]!r}")
        tokens.append(m.group(1).lower())
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if not tokens:
        return ""
    parser = _Parser(tokens)
    value = parser.binary(0)
    if parser.i != len(tokens):
        raise ExprError(f"unexpected {tokens[parser.i]!r}")
    return _format(value)


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ExprError("unexpected end")
        self.i += 1
        return token

    def binary(self, level: int) -> float:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in _LEVELS[level]:
            op = self.take()
            right = self.binary(level + 1) if op != "^" else self.binary(level)  # ^ is right-associative
            left = _apply(op, left, right)
        return left

    def unary(self) -> float:
        token = self.take()
        if token == "-":
            return -self.unary()
        if token == "+":
            return self.unary()
        if token == "not":
            return float(not self.unary())
        if token == "(":
            value = self.binary(0)
            if self.take() != ")":
                raise ExprError("unbalanced parentheses")
            return value
        try:
            return float(token)
        except ValueError:
            raise ExprError(f"unexpected {token!r}") from None


def _apply(op: str, a: float, b: float) -> float:
    if op in ("/", "div", "mod") and b == 0:
        raise ExprError("division by zero")
    result: float
    if op == "+":
        result = a + b
    elif op == "-":
        result = a - b
    elif op == "*":
        result = a * b
    elif op in ("/", "div"):
        result = a / b
    elif op == "mod":
        result = float(math.fmod(int(a), int(b)))
    elif op == "^":
        result = a**b
    elif op == "round":
        result = _round(a, int(b))
    elif op == "=":
        result = float(a == b)
    elif op in ("!=", "<>"):
        result = float(a != b)
    elif op == "<":
        result = float(a < b)
    elif op == ">":
        result = float(a > b)
    elif op == "<=":
        result = float(a <= b)
    elif op == ">=":
        result = float(a >= b)
    elif op == "and":
        result = float(bool(a) and bool(b))
    else:  # or
        result = float(bool(a) or bool(b))
    if math.isinf(result) or math.isnan(result):
        raise ExprError("not a finite number")
    return result


def _round(value: float, digits: int) -> float:
    """Half away from zero, as PHP's round does (Python rounds half to even)."""
    scale = 10.0**digits
    return math.copysign(math.floor(abs(value) * scale + 0.5) / scale, value)


def _format(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.14g}"
