"""tidal.metrics"""
