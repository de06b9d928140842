"""The processor seam: readings from sources and events from the log's live tail go in,
events come out.

- `bus`: the reading bus that sources publish on, typed by reading class, with a stated
  back-pressure policy per kind.
- `processor`: what a processor is (pure, synchronous, clock-free logic) and its output.
- `host`: the supervised component that runs one processor: its inbox, ticks and emission.
- `registry`: which processors the daemon runs for a config.
"""
