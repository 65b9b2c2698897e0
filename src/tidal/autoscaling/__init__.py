"""tidal.autoscaling"""
