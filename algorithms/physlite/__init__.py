"""Reading ATLAS PHYSLITE files (uproot) into the metflow EDM."""
