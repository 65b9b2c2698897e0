"""The protocol layer: resource types, errors, the client protocol. Imports nothing else of tidal."""
