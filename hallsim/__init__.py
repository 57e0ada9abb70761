"""hallsim: a local Hall Server emulator and a harness for Pipedream and Make governance gates."""

from __future__ import annotations

import os as _os

__version__ = "0.1.0"

# In a source checkout (editable install) the packages emulator/ and harness/ sit beside this folder, at the
# repository root; installed from a wheel they sit inside it. Let `hallsim.emulator` find them in both cases.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
_in_checkout = _os.path.isfile(_os.path.join(_root, "pyproject.toml"))
if _in_checkout and _os.path.isdir(_os.path.join(_root, "emulator")):
    __path__.append(_root)

__all__ = ["__version__"]
