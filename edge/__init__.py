"""omo-edge: the in-store half of an OMO retail system."""

__version__ = "0.1.0"
