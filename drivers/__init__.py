"""Hardware drivers: one module per sensor kind, producing readings. No business logic."""
