"""Event generation: synthetic source and Pythia8 with a toy detector."""

__all__ = ["SyntheticSource"]


def __getattr__(name: str):
    # lazy: importing the CLI must not load the numba kernels of the synthetic source
    if name == "SyntheticSource":
        from .synthetic import SyntheticSource

        return SyntheticSource
    raise AttributeError(name)
