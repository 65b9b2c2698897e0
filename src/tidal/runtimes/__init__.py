"""tidal.runtimes"""
