"""YAML that cannot blow up: scenario and fault files are read with limits on what they expand to.

YAML anchors and aliases let a 1 KB file stand for a billion values (``&a [x,x,…]``,
``&b [*a,*a,…]``, …). PyYAML builds such a document cheaply — an alias is the same Python
object again — but everything that walks it afterwards (validation, the report) walks every
copy: a "billion laughs" scenario held ``faultproxy run`` at 1.8 GB until it was killed.

:class:`BoundedLoader` counts what the document *expands to* before anything is built, from the
node graph, each shared node counted once per use: over :data:`MAX_VALUES` values, deeper than
:data:`MAX_DEPTH`, or an alias that contains itself, and loading stops with a YAML error at the
line where the limit was crossed. The limits are far above any real scenario suite (the built-in
suite's largest file is 400 values).
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_VALUES = 100_000
MAX_DEPTH = 100


# libyaml's parser when PyYAML has it (its wheels do): no recursion, its own nesting limit, and no
# quadratic look-ahead — the pure-Python scanner took 5 s to reach the error in 2,000 nested '['
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class BoundedLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """A safe YAML loader that refuses documents over :data:`MAX_VALUES` or :data:`MAX_DEPTH`."""

    def get_single_data(self) -> Any:
        try:
            node = self.get_single_node()
        except RecursionError:  # PyYAML's composer recurses once per level
            raise yaml.YAMLError(f"nested deeper than {MAX_DEPTH} levels") from None
        if node is None:
            return None
        check_expansion(node)
        return self.construct_document(node)


def check_expansion(root: yaml.Node) -> None:
    """Raise a :class:`yaml.MarkedYAMLError` if ``root`` expands past the limits."""
    sizes: dict[int, int] = {}  # id(node) -> values it expands to
    open_nodes: set[int] = set()  # on the current path: meeting one again is an alias to itself
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done:
            if depth > MAX_DEPTH:
                _refuse(f"nested deeper than {MAX_DEPTH} levels", node)
            if id(node) in open_nodes:
                _refuse("an alias that contains itself", node)
            open_nodes.add(id(node))
            stack.append((node, depth, True))
            stack += [(child, depth + 1, False) for child in children if id(child) not in sizes]
            continue
        open_nodes.discard(id(node))
        size = 1 + sum(sizes[id(child)] for child in children)
        if size > MAX_VALUES:
            _refuse(
                f"the document expands to over {MAX_VALUES:,} values through its aliases "
                "(a 'billion laughs' file?)",
                node,
            )
        sizes[id(node)] = size


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _refuse(problem: str, node: yaml.Node) -> None:
    raise yaml.MarkedYAMLError(problem=problem, problem_mark=node.start_mark)
