"""mednotes: the library behind *CNNs for Medical Image Analysis*.

Every chapter of the book imports from here; each function points back to the chapter that
explains it (the ``Explained in:`` line of its docstring).

Example:
    >>> import mednotes
    >>> mednotes.seed_everything(0)
    >>> mednotes.device("cpu").type
    'cpu'
"""

from mednotes._runtime import available_devices, device, seed_everything

__version__ = "0.1.0"

__all__ = ["__version__", "available_devices", "device", "seed_everything"]
