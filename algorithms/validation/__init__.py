"""Physics validation: MET performance report, event cleaning (MET filters)."""
