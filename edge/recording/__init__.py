"""Record and replay: the readings a daemon sees, kept in a compact file and run again.

- `format`: the file format (gzip'd JSON lines) and its reader and writer.
- `tap`: the daemon's recording socket and the `omo-edge record` client.
- `replay`: runs a recording through the processors at full speed into a fresh event log.
"""
