"""Physics algorithms: MET reconstruction and rebuilding, event generation, ATLAS import."""
