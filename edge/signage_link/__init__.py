"""The daemon's side of the signage channel (docs/signage-channel.md).

- `state`: the signage state the daemon keeps and pushes (live Shows, Playlists, Orders),
  made from the durable command files under ``<state_dir>/signage/`` and from trigger events;
- `server`: the supervised channel server on ``<state_dir>/signage/player.sock``;
- `connection`: one player's connection (bounded outgoing queue, reading and writing);
- `played`: proof of play into the event log, idempotently;
- `triggers`: the processor that turns events into `omo.signage.trigger.fired`;
- `bench`: ``omo-edge bench signage``.

The messages and framing are `signage.protocol`'s (shared with the player).
"""
