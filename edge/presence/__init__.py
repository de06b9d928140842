"""Presence: footfall from door counters, visits, zones and dwell from beacons."""
