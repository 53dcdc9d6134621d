"""Griffe extension: Sphinx cross-reference roles in the package's docstrings shown as Markdown code.

The docstrings write references the Sphinx way (``:func:`port_notes```, ``:class:`~ecgformer.layers.ConvStem```);
Markdown has no roles, so mkdocstrings would print the role name. Each role becomes an inline code span of its
target, the last dotted component only when the target starts with ``~`` (as Sphinx displays it). The README's
mixer table does the same for the ``1D port:`` paragraphs (:func:`ecgformer.mixers.registry.port_notes`).
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

#: ``:role:`target``` or ``:py:role:`target```; the target may carry Sphinx's ``~`` (show the last component).
ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`(~?)([^`<>]+?)`")


def roles_as_code(text: str) -> str:
    """``text`` with every Sphinx role replaced by a Markdown code span of its target."""
    return ROLE.sub(lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text)


class SphinxRolesAsCode(Extension):
    """Rewrite each loaded object's docstring with :func:`roles_as_code`."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        """Called by griffe for every object it loads."""
        if obj.docstring is not None:
            obj.docstring.value = roles_as_code(obj.docstring.value)
