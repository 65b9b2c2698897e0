"""tidal.controllers"""
