"""Lago's billable-metric expressions.

Example: `round(event.properties.price * event.properties.qty, 2)`.

Grammar: decimal numbers, single-quoted strings, `+ - * /`, unary minus, parentheses,
`round(x[, digits])` (half up), `ceil(x[, digits])`, `floor(x[, digits])`,
`concat(a, b, ...)`, and the variables `event.code`, `event.timestamp` (epoch seconds)
and `event.properties.<name>`. Arithmetic is exact (Decimal). The result is written into
the event's `properties[field_name]` at ingestion.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from meterly.domain.errors import DomainError

Value = Decimal | str


class ExpressionError(DomainError):
    code = "invalid_expression"


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'[^']*')|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(?P<op>[-+*/(),]))"
)


@dataclass(frozen=True, slots=True)
class EventContext:
    code: str
    timestamp: Decimal
    properties: Mapping[str, object]


Node = Callable[[EventContext], Value]


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ExpressionError(f"unexpected character at {pos}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'a value'}")
        self.i += 1
        return token

    def expression(self) -> Node:
        node = self.term()
        while (tok := self.peek()) is not None and tok[1] in "+-" and tok[0] == "op":
            self.take()
            node = _binary(tok[1], node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while (tok := self.peek()) is not None and tok[1] in "*/" and tok[0] == "op":
            self.take()
            node = _binary(tok[1], node, self.unary())
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok == ("op", "-"):
            self.take()
            inner = self.unary()
            return lambda ctx: -_number(inner(ctx))
        return self.atom()

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            number = Decimal(text)
            return lambda _ctx: number
        if kind == "str":
            string = text[1:-1]
            return lambda _ctx: string
        if kind == "op" and text == "(":
            node = self.expression()
            self.take(")")
            return node
        if kind == "name":
            if self.peek() == ("op", "("):
                return self.call(text)
            return _variable(text)
        raise ExpressionError(f"unexpected {text!r}")

    def call(self, name: str) -> Node:
        self.take("(")
        args: list[Node] = []
        if self.peek() != ("op", ")"):
            args.append(self.expression())
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.expression())
        self.take(")")
        if name == "concat":
            return lambda ctx: "".join(_text(a(ctx)) for a in args)
        modes = {"round": ROUND_HALF_UP, "ceil": ROUND_CEILING, "floor": ROUND_FLOOR}
        if name not in modes or not 1 <= len(args) <= 2:
            raise ExpressionError(f"unknown function {name}")
        mode = modes[name]

        def rounded(ctx: EventContext) -> Value:
            digits = int(_number(args[1](ctx))) if len(args) == 2 else 0
            return _number(args[0](ctx)).quantize(Decimal(1).scaleb(-digits), rounding=mode)

        return rounded


def _binary(op: str, left: Node, right: Node) -> Node:
    def apply(ctx: EventContext) -> Value:
        a, b = _number(left(ctx)), _number(right(ctx))
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            raise ExpressionError("division by zero")
        return a / b

    return apply


def _variable(name: str) -> Node:
    if name == "event.code":
        return lambda ctx: ctx.code
    if name == "event.timestamp":
        return lambda ctx: ctx.timestamp
    prefix = "event.properties."
    if name.startswith(prefix) and len(name) > len(prefix):
        key = name[len(prefix) :]

        def lookup(ctx: EventContext) -> Value:
            if key not in ctx.properties or ctx.properties[key] is None:
                raise ExpressionError(f"missing property {key}")
            value = ctx.properties[key]
            if isinstance(value, bool):
                return str(value).lower()
            if isinstance(value, int | Decimal):
                return Decimal(value)
            if isinstance(value, float):
                return Decimal(repr(value))
            return str(value)

        return lookup
    raise ExpressionError(f"unknown variable {name}")


def _number(value: Value) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ExpressionError(f"not a number: {value!r}") from None


def _text(value: Value) -> str:
    return format(value, "f") if isinstance(value, Decimal) else value


@dataclass(frozen=True, slots=True)
class Expression:
    source: str
    root: Node

    def evaluate(self, ctx: EventContext) -> Value:
        return self.root(ctx)


def parse_expression(source: str) -> Expression:
    parser = _Parser(source)
    if not parser.tokens:
        raise ExpressionError("empty expression")
    root = parser.expression()
    if parser.peek() is not None:
        raise ExpressionError("unexpected trailing input")
    return Expression(source=source, root=root)
