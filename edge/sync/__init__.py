"""Cloud sync over MQTT: the outbox publisher, the connection, device status and commands.

See docs/sync.md for the topics, payloads and the delivery contract.
"""
