"""omo-edge sim."""
