"""metflow: Athena-like event processing and ATLAS dynamic MET."""
__version__ = "0.1.0"
