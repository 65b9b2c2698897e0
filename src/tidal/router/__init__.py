"""tidal.router"""
