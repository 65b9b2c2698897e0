"""tidal.client"""
