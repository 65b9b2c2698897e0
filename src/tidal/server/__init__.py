"""tidal.server"""
