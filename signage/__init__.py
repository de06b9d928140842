"""omo-edge signage."""
