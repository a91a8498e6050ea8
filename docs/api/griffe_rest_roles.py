"""A griffe extension for the API reference (mkdocs.yml): the docstrings' reST markup as
Markdown, so that cross-references become links that ``mkdocs build --strict`` checks.

``:class:`~spectrum_sync.X``` becomes a link to ``spectrum_sync.X`` shown as ``X``; a bare
``:meth:`close``` a link resolved in the docstring's own scope (``scoped_crossrefs``);
a built-in name (``ValueError``) plain code;
````literal```` becomes ```literal```. A target that does not exist fails the build.
"""

from __future__ import annotations

import builtins
import contextlib
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|attr|data|mod|exc|obj):`(~?)([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``", re.S)


def markdown(text: str, scope: griffe.Object | None = None) -> str:
    """reST roles as Markdown links, reST literals as Markdown code. A bare name is resolved
    where the docstring is written (``scope``), so that a docstring inherited elsewhere
    still points at the same object."""

    def link(match: re.Match[str]) -> str:
        short, target = match.group(1) == "~", match.group(2).strip().removesuffix("()")
        shown = target.rsplit(".", 1)[-1] if short else target
        if hasattr(builtins, target):
            return f"`{shown}`"  # Python's own (ValueError...): documented by Python
        if scope is not None and "." not in target:
            with contextlib.suppress(Exception):  # unresolved: left to scoped_crossrefs
                target = scope.resolve(target)
        return f"[`{shown}`][{target}]"

    return _ROLE.sub(link, _LITERAL.sub(r"`\1`", text))


class ReSTRoles(griffe.Extension):
    """Rewrites every docstring of the loaded package once (listed before the inheriting
    extension in mkdocs.yml, so inherited docstrings are already rewritten)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._convert(pkg, set())

    def _convert(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            scope = obj if obj.is_class or obj.is_module else obj.parent
            obj.docstring.value = markdown(obj.docstring.value, scope)  # type: ignore[arg-type]
        for member in obj.members.values():
            if not member.is_alias:
                self._convert(member, seen)  # type: ignore[arg-type]
