"""omo-edge models."""
