"""Row layouts of the synthetic generator's per-event scratch tables, and the codes stored in them.

The kernels keep each event in float tables, one row per entry, with columns named here:
particles (P_), truth-jet seeds (S_), tracks (X_ four-momentum then TK_), clusters (CL_) and
PFOs (PF_). Tracks, clusters and PFOs hold their output-schema columns first (the NT_OUT,
NC_OUT, NF_OUT leading columns are copied to the block buffers), then auxiliary ones. Also here:
particle types (T_) with their masses, seed kinds (S_ kinds), the beam spot, the output
containers of a block (O_) and the per-event counters (C_). Internal units: MeV and mm, like
the EDM.
"""

from metflow.edm.units import MeV, mm

# particle types
T_CH, T_PH, T_NH, T_ELE, T_MU, T_NU, T_LRT_ELE, T_LRT_MU = 0, 1, 2, 3, 4, 5, 6, 7

# seed (truth-jet-like object) kinds
S_LIGHT, S_B, S_TAU_FAKE, S_TAU, S_ELE, S_PUJET, S_LRT_ELE = 0, 1, 2, 3, 4, 5, 6

# particle masses
M_PI, M_E, M_MU, M_NH = 139.57 * MeV, 0.511 * MeV, 105.66 * MeV, 497.6 * MeV

# beam spot: spread of the hard-scatter and pileup vertices
BEAM_SIGMA_Z, BEAM_SIGMA_XY = 45 * mm, 0.015 * mm

# scratch column layouts
# particles
P_PT, P_ETA, P_PHI, P_M, P_TYPE, P_Q, P_SEED, P_VTX = 0, 1, 2, 3, 4, 5, 6, 7
P_TRK, P_CLU, P_CLU2, P_CPFO, P_NPFO, P_NPFO2, P_D0, P_DZ = 8, 9, 10, 11, 12, 13, 14, 15
P_PX, P_PY, P_PZ = 16, 17, 18
NP = 19
# seeds
S_PT, S_ETA, S_PHI, S_KIND, S_ROOT, S_FIRST, S_LAST, S_VTX = 0, 1, 2, 3, 4, 5, 6, 7
NS = 8
# tracks: schema columns 0..8, then aux
X_PX, X_PY, X_PZ, X_E = 0, 1, 2, 3
TK_Q, TK_Z0, TK_D0, TK_VTX, TK_QUAL = 4, 5, 6, 7, 8
TK_PT, TK_ETA, TK_PHI, TK_SEED, TK_FLAG, TK_JET = 9, 10, 11, 12, 13, 14
NT_OUT, NT = 9, 15
# clusters
CL_PT, CL_ETA, CL_PHI, CL_SEED, CL_EMF, CL_JET = 4, 5, 6, 7, 8, 9
NC_OUT, NC = 4, 10
# pfos
PF_Q, PF_TRK, PF_CLU, PF_EMF = 4, 5, 6, 7
NF_OUT, NF = 7, 8
# vertices
NV_OUT = 5
# jets: px py pz e, constit px py pz e, jvt, emfrac | aux pt
NJ_OUT, NJ = 10, 11
# egamma: p4, charge, id, isolated; muons: p4, charge, id_track, type, id; taus: p4, charge, id
NEG_OUT, NMU_OUT, NTAU_OUT = 7, 8, 6

# output containers (block buffers / offsets columns)
O_TRK, O_CLU, O_PFO, O_VTX, O_JPF, O_JTP, O_ELE, O_PHO, O_MUO, O_TAU, O_LELE, O_LMUO = range(12)
N_OUT = 12

# event-level record: run, event, mu, weight, nonint_mpx, nonint_mpy, nonint_sumet, process,
# injected fault bits
NE = 9

# counters in cnt[]
C_P, C_S, C_T, C_C, C_F, C_V, C_L = 0, 1, 2, 3, 4, 5, 6
