"""Lazy import of the optional ``physlite`` extra (uproot, awkward)."""

from __future__ import annotations

INSTALL_HINT = 'pip install "metflow[physlite]"'


def uproot_and_awkward():
    """Return the (uproot, awkward) modules, or fail with the command that installs them."""
    try:
        import awkward
        import uproot
    except ImportError as exc:
        raise ImportError(
            f"reading PHYSLITE files needs uproot and awkward ({exc.name} is missing); "
            f"install them with: {INSTALL_HINT}"
        ) from exc
    return uproot, awkward
