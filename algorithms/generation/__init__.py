"""Event generation: synthetic source and Pythia8 with a toy detector."""
