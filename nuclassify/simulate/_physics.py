"""Physics parameterisations for the fast simulator: materials, ranges, scattering.

Every constant here and its source (PDG, NIST PSTAR, Geant4 material tables, ...) is listed in
data/README.md, section "Physics constants and sources".

Energy loss uses one CSDA range table per material, integrated from the Bethe formula with that
material's Z/A, mean excitation energy and density-effect parameters (PDG), as range per unit
mass against beta*gamma, which every charged particle shares. (Version 1 used one polystyrene
table and a constant stopping-power ratio per material, which made protons in lead 17-20%
short.) Stepping by range (T -> R_mat(T) - dx -> T) is exact for steps of any size, so a
particle can cross a whole plane or a passive target in one vectorised step.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MASS_MEV", "MU", "PI", "P", "E", "GAMMA", "N", "PI0", "MICHEL", "TRACK_KINDS",
    "Material", "MATERIALS", "range_g_cm2", "kinetic_from_range", "highland_theta0",
    "moyal", "CH_RANGE_DENSITY", "bethe_dedx",
]

ME = 0.51099895
MASS_MUON = 105.658
MASS_PION = 139.570
MASS_PROTON = 938.272
MASS_PI0 = 134.977

# Particle kinds used in the particle tables.
MU, PI, P, E, GAMMA, N, PI0, MICHEL = range(8)
MASS_MEV = np.array([MASS_MUON, MASS_PION, MASS_PROTON, ME, 0.0, 939.565, MASS_PI0, ME])
TRACK_KINDS = (MU, PI, P, MICHEL)


class Material:
    """Bulk properties the simulator needs, in g/cm^2 (so thickness x density gives them in mm)."""

    def __init__(self, name: str, density: float, x0_g: float, lambda_g: float, stopping: float,
                 visible: float, moliere_mm: float) -> None:
        self.name = name
        self.density = density  # g/cm^3
        self.x0_g = x0_g  # radiation length, g/cm^2
        self.lambda_g = lambda_g  # nuclear interaction length (PDG), used for pions and protons, g/cm^2
        self.stopping = stopping  # min. ionisation stopping power relative to polystyrene (documentation only)
        self.visible = visible  # fraction of the deposit that is seen (0 for passive material)
        self.moliere_mm = moliere_mm


# Index = MINERvA material code (detector.minerva.MATERIAL_CODES) then NOvA's cell mixture.
# Minimum stopping powers (MeV cm^2/g): CH 1.936, C 1.742, Fe 1.451, Pb 1.122, H2O 1.992.
# The MINERvA plane is 1.9872 g/cm^2 over 17 mm of strips (coating and glue included), and about
# 88% of its ionisation shows as light, giving the 3.5 MeV per minimum-ionising crossing.
MATERIALS: tuple[Material, ...] = (
    Material("CH", 1.9872 / 1.7, 43.8, 82.0, 1.0, 0.88, 95.0),
    Material("C", 1.739, 42.7, 85.8, 1.742 / 1.936, 0.0, 48.0),
    Material("Fe", 7.87, 13.84, 132.1, 1.451 / 1.936, 0.0, 17.0),
    Material("Pb", 11.35, 6.37, 199.6, 1.122 / 1.936, 0.0, 16.0),
    Material("H2O", 1.0, 36.08, 83.3, 1.992 / 1.936, 0.0, 92.0),
    Material("NOvA", 1.0, 41.0, 80.0, 1.0, 0.62, 110.0),
)
MAT_DENSITY = np.array([m.density for m in MATERIALS])
MAT_X0 = np.array([m.x0_g for m in MATERIALS])
MAT_LAMBDA = np.array([m.lambda_g for m in MATERIALS])
MAT_STOPPING = np.array([m.stopping for m in MATERIALS])
MAT_VISIBLE = np.array([m.visible for m in MATERIALS])
MAT_MOLIERE = np.array([m.moliere_mm for m in MATERIALS])

# The muon range table of data/README.md (cm of CH) is quoted at vinyltoluene density.
CH_RANGE_DENSITY = 1.032

# Bethe-Bloch inputs per material, in MATERIALS order: Z/A, mean excitation energy I (eV), and
# the Sternheimer density-effect parameters (C-bar, x0, x1, a, k) of the PDG "Atomic and
# Nuclear Properties" tables (R. M. Sternheimer, M. J. Berger, S. M. Seltzer, At. Data Nucl.
# Data Tables 30 (1984) 261). Polystyrene stands for the MINERvA planes and NOvA's cells.
_BETHE_PARAMETERS = np.array([
    # Z/A,   I eV,  C-bar,   x0,      x1,     a,       k
    [0.53768, 68.7, 3.2999, 0.1647, 2.5031, 0.16454, 3.2224],   # CH: polystyrene
    [0.49955, 78.0, 2.9925, -0.0351, 2.4860, 0.20240, 3.0036],  # C: carbon (amorphous)
    [0.46557, 286.0, 4.2911, -0.0012, 3.1531, 0.14680, 2.9632],  # Fe
    [0.39575, 823.0, 6.2018, 0.3776, 3.8073, 0.09359, 3.1608],   # Pb
    [0.55509, 75.0, 3.5017, 0.2400, 2.8004, 0.09116, 3.4773],    # H2O
    [0.53768, 68.7, 3.2999, 0.1647, 2.5031, 0.16454, 3.2224],   # NOvA cell mixture: as CH
])
_K_BETHE = 0.307075  # MeV cm^2 / mol (PDG)
_N_GRID = 1024
_LOG_BG_LO, _LOG_BG_HI = np.log(0.02), np.log(2.0e4)
_BG_JOIN = 0.1  # below this beta*gamma, Bethe fails in heavy materials: Bragg-Kleeman continuation


def bethe_dedx(beta_gamma: np.ndarray, material: int, mass_mev: float = MASS_MUON) -> np.ndarray:
    """Mean ionisation dE/dx (MeV cm^2/g) of a singly charged particle in ``material`` (PDG eq. 34.5).

    With the full Tmax and the Sternheimer density-effect correction; no shell or Barkas terms
    (they matter below a few MeV for protons, where the range is continued by a power law).
    """
    z_over_a, ionisation_ev, c_bar, x0, x1, a, k = _BETHE_PARAMETERS[material]
    bg = np.asarray(beta_gamma, dtype=np.float64)
    bg2 = bg * bg
    beta2 = bg2 / (1.0 + bg2)
    gamma = np.sqrt(1.0 + bg2)
    ratio = ME / mass_mev
    t_max = 2 * ME * bg2 / (1 + 2 * gamma * ratio + ratio**2)
    ionisation = ionisation_ev * 1e-6
    x = np.log10(np.maximum(bg, 1e-12))
    two_ln10 = 2 * np.log(10.0)
    delta = np.where(x >= x1, two_ln10 * x - c_bar,
                     np.where(x >= x0, two_ln10 * x - c_bar + a * np.maximum(x1 - x, 0.0) ** k, 0.0))
    log_term = 0.5 * np.log(2 * ME * bg2 * t_max / ionisation**2)
    return _K_BETHE * z_over_a / beta2 * (log_term - beta2 - 0.5 * delta)


def _build_range_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CSDA range tables, one row per material: log(range / M) (g cm^-2 MeV^-1) on a uniform log(bg) grid.

    Range per unit mass against beta*gamma is the same for every particle mass (up to the small
    mass dependence of Tmax, evaluated for a muon). Integrated from the Bethe formula above
    _BG_JOIN; below it the range follows the Bragg-Kleeman rule R ~ T^1.75, matched to the
    Bethe stopping power at the join (less than 1% of the range of a 100 MeV proton in Pb).
    Also the inverse: log(bg) on a uniform log(range / M) grid, so both look-ups are a gather.
    """
    log_bg = np.linspace(_LOG_BG_LO, _LOG_BG_HI, _N_GRID)
    bg = np.exp(log_bg)
    tables = np.empty((len(MATERIALS), _N_GRID))
    for m in range(len(MATERIALS)):
        fine = np.linspace(np.log(_BG_JOIN), _LOG_BG_HI, 8 * _N_GRID)
        fbg = np.exp(fine)
        dedx = bethe_dedx(fbg, m)
        # d(T/M)/d(log bg) = bg^2 / gamma; range per mass grows by that over dE/dx.
        integrand = fbg * fbg / np.sqrt(1 + fbg * fbg) / dedx
        t_join = np.sqrt(1 + _BG_JOIN**2) - 1.0  # T/M at the join
        r_join = t_join / (1.75 * bethe_dedx(np.array([_BG_JOIN]), m)[0])
        r = r_join + np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(fine))])
        low = log_bg < np.log(_BG_JOIN)
        tables[m, ~low] = np.interp(log_bg[~low], fine, np.log(r))
        t_over_m = np.sqrt(1 + bg[low] ** 2) - 1.0
        tables[m, low] = np.log(r_join) + 1.75 * np.log(t_over_m / t_join)
    log_r = np.linspace(tables.min(), tables.max(), _N_GRID)
    inverse = np.stack([np.interp(log_r, tables[m], log_bg) for m in range(len(MATERIALS))])
    return tables, log_r, inverse, log_bg


_LOG_R_TABLE, _LOG_R_GRID, _LOG_BG_OF_R, _LOG_BG_GRID = _build_range_tables()
_R_FLAT = _LOG_R_TABLE.ravel()
_BG_FLAT = _LOG_BG_OF_R.ravel()


def _lerp(x: np.ndarray, lo: float, hi: float, flat: np.ndarray, row: np.ndarray | int) -> np.ndarray:
    """Linear interpolation on a uniform grid [lo, hi] of _N_GRID points, in table ``row`` (vectorised)."""
    u = np.clip((x - lo) * ((_N_GRID - 1) / (hi - lo)), 0.0, _N_GRID - 1.000001)
    i = u.astype(np.int64)
    f = u - i
    idx = np.asarray(row, dtype=np.int64) * _N_GRID + i
    return flat[idx] * (1.0 - f) + flat[idx + 1] * f


def range_g_cm2(kinetic_mev: np.ndarray, mass_mev: np.ndarray, material: np.ndarray | int = 0) -> np.ndarray:
    """CSDA range (g/cm^2 of ``material``, a MATERIALS index) of a particle of kinetic energy T and mass M."""
    t = np.maximum(kinetic_mev, 1e-6)
    log_bg = 0.5 * np.log(t * (t + 2 * mass_mev)) - np.log(mass_mev)
    return mass_mev * np.exp(_lerp(log_bg, _LOG_BG_GRID[0], _LOG_BG_GRID[-1], _R_FLAT, material))


def kinetic_from_range(range_g: np.ndarray, mass_mev: np.ndarray, material: np.ndarray | int = 0) -> np.ndarray:
    """Inverse of :func:`range_g_cm2`: kinetic energy (MeV) of a particle with this range in ``material``."""
    log_r = np.log(np.maximum(range_g, 1e-12) / mass_mev)
    bg = np.exp(_lerp(log_r, _LOG_R_GRID[0], _LOG_R_GRID[-1], _BG_FLAT, material))
    return mass_mev * (np.sqrt(1 + bg * bg) - 1)


def highland_theta0(kinetic_mev: np.ndarray, mass_mev: np.ndarray, x_over_x0: np.ndarray) -> np.ndarray:
    """Multiple-scattering plane angle (rad) after ``x_over_x0`` radiation lengths (Highland)."""
    p = np.sqrt(np.maximum(kinetic_mev, 1e-3) * (kinetic_mev + 2 * mass_mev))
    beta = p / (kinetic_mev + mass_mev)
    x = np.maximum(x_over_x0, 1e-6)
    return 13.6 / (beta * p) * np.sqrt(x) * np.maximum(1 + 0.038 * np.log(x), 0.1)


def moyal(rng: np.random.Generator, n: int, sigma: float = 0.12) -> np.ndarray:
    """Landau-like (Moyal) factors with unit mean.

    Moyal's sampling (J. E. Moyal, Phil. Mag. 46 (1955) 263) is x = mu - 2 sigma ln(sqrt2 erfinv(1 - 2u));
    sqrt2 erfinv(1 - 2u) is the absolute value of a standard normal, so x = -2 ln|Z| is drawn
    directly (no erfinv).
    The tail is cut at 6 times the mean so that one strip cannot swallow a whole event.
    """
    x = -2.0 * np.log(np.abs(rng.standard_normal(n)) + 1e-12)
    # For the standard Moyal variable, the mean is gamma_E + ln 2 = 1.2704.
    x = 1.0 + sigma * (x - 1.2704)
    return np.clip(x, 0.3, 6.0)
