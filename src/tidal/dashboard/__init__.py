"""The live dashboard the plane serves on loopback (docs/DASHBOARD.md)."""
