"""MkDocs hook: writes the Token mixers page (``mixers.md``) from the mixer registry at build time.

The table is :func:`ecgformer.mixers.mixers_markdown` (the README's table); below it every registered mixer's
class is documented by mkdocstrings. Nothing of the page is kept in ``docs/``, so a mixer registered by a new file
appears on the next build with no other edit.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
PAGE = "mixers.md"


def _import_mixers_from_root() -> object:
    """``ecgformer.mixers`` of this checkout (the one mkdocstrings reads), not another installed copy."""
    if sys.path[0] != str(ROOT):
        sys.path.insert(0, str(ROOT))
    import ecgformer.mixers as mixers

    found = Path(mixers.__file__).resolve()
    if ROOT not in found.parents:
        raise RuntimeError(f"ecgformer was imported from {found}, not from the documented checkout {ROOT}")
    return mixers


def mixers_page() -> str:
    """Markdown of the Token mixers page: introduction, the registry's table, one section per mixer class."""
    mixers = _import_mixers_from_root()
    lines = [
        "# Token mixers",
        "",
        "Every mixer maps tokens `(B, N, C) -> (B, N, C)` for any `N >= 1` and is built by name with "
        "`ecgformer.create_mixer(name, dim, num_heads=..., **family_kwargs)`; `list_mixers()` names them and "
        "`mixer_info(name)` returns the registry entry ([`MixerInfo`][ecgformer.mixers.registry.MixerInfo]). "
        "This page is generated from the registry when the documentation is built: the table is "
        "`mixers_markdown()`, the same table as in the README.",
        "",
        mixers.mixers_markdown(),
        "",
    ]
    for name in mixers.list_mixers():
        info = mixers.mixer_info(name)
        lines += [
            f"## `{name}`",
            "",
            f"Family: {info.family}. Paper: {info.paper}. 2D origin: {info.origin_2d}. "
            f"Preset `ecgformer_s_{name}`: {info.preset_params:,} parameters (12 leads, 5 classes).",
            "",
            f"::: {info.cls.__module__}.{info.cls.__qualname__}",
            "    options:",
            "      heading_level: 3",
            "",
        ]
    return "\n".join(lines)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated Token mixers page to the site's files."""
    files.append(File.generated(config, PAGE, content=mixers_page()))
    return files
