"""The `tidal` commands, one module each with `add_parser(subparsers)`; `tidal.cli.main.COMMANDS`
lists them (a new module is added there)."""
