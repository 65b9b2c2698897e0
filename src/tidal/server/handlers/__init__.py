"""The API server's handlers, one module per job: resource objects and collections
(`objects`), watch streams (`watch`), pod logs (`logs`) and the discovery paths (`discovery`).
`tidal.server.routes` maps paths onto them."""
