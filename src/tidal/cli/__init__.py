"""tidal.cli"""
