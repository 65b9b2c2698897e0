"""tidal.pods"""
