"""Units used everywhere in metflow: energies in MeV, lengths in mm, angles in radians.

Write physical values as ``20 * GeV``; divide by a unit to print in it (``met / GeV``).
"""

MeV = 1.0
keV = MeV / 1000
GeV = 1000 * MeV
TeV = 1000 * GeV

mm = 1.0
um = mm / 1000
cm = 10 * mm
m = 1000 * mm

rad = 1.0
mrad = rad / 1000

__all__ = ["MeV", "keV", "GeV", "TeV", "mm", "um", "cm", "m", "rad", "mrad"]
