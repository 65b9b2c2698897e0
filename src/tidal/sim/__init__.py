"""tidal.sim"""
