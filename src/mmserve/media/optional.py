"""The one place optional media dependencies are imported, so a missing one says what to install.

Pillow and PyAV are extras: a server that only embeds text should import mmserve.media
without them. Their error is an ImportError (a 500 on a request, because the server, not the
client, is missing something), named so the operator knows the fix.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

# module -> (pip extra, what it is for)
EXTRAS = {
    "PIL": ("image", "decoding images"),
    "av": ("audio", "decoding audio"),
}


@cache
def optional_import(module: str) -> ModuleType:
    """Import `module` (e.g. "PIL.Image", "av"); if missing, name the extra that installs it."""
    top = module.partition(".")[0]
    extra, purpose = EXTRAS[top]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{top} is needed for {purpose}; install it with `pip install 'mmserve[{extra}]'`"
        ) from e
