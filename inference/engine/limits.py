"""Limits of what the engine will decode. No imports: the web process reads this file on its own
(see `scoliosis_portal.settings.base`) so that uploads refuse what the engine would refuse,
without importing torch."""

# Refuse decompression bombs with a readable message; also the upload limit.
MAX_PIXELS = 60_000_000
