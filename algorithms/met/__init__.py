"""MET reconstruction (association maps) and analysis-time rebuilding (METMaker)."""
