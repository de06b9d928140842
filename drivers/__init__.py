"""omo-edge drivers."""
