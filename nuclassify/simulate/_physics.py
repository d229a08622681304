"""Physics parameterisations for the fast simulator: materials, ranges, scattering.

Every constant here and its source (PDG, NIST PSTAR, Geant4 material tables, ...) is listed in
data/README.md, section "Physics constants and sources".

Energy loss uses one range table, computed once from the Bethe formula for polystyrene and
scaled to the muon range table of data/README.md (CSDA ranges from the Bethe formula with PDG
parameters), as range per unit mass against beta*gamma: every charged
particle and every material then shares it. A material is reduced to its minimum-ionisation
stopping power relative to CH, which reproduces the iron ranges of the table within a few %.
Stepping by range (T -> R(T) - dx -> T) is exact for steps of any size, so a particle can
cross a whole plane or a passive target in one vectorised step.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MASS_MEV", "MU", "PI", "P", "E", "GAMMA", "N", "PI0", "MICHEL", "TRACK_KINDS",
    "Material", "MATERIALS", "range_g_cm2", "kinetic_from_range", "highland_theta0",
    "moyal", "CH_RANGE_DENSITY",
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
        self.stopping = stopping  # min. ionisation stopping power relative to polystyrene (per g/cm^2)
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

# The muon range table (cm of CH; data/README.md, "Physics constants and sources") is read at
# vinyltoluene density.
CH_RANGE_DENSITY = 1.032
_TABLE_P_GEV = np.array([0.5, 1.0, 2.0, 5.0])
_TABLE_RANGE_CM = np.array([176.0, 411.0, 860.0, 2128.0])


def _bethe_polystyrene(beta_gamma: np.ndarray) -> np.ndarray:
    """Mean dE/dx (MeV cm^2/g) of a muon in polystyrene, with the high-energy density effect."""
    bg2 = beta_gamma**2
    beta2 = bg2 / (1.0 + bg2)
    gamma = np.sqrt(1.0 + bg2)
    z_over_a, ionisation, plasma = 0.53768, 68.7e-6, 21.75e-6
    ratio = ME / MASS_MUON
    t_max = 2 * ME * bg2 / (1 + 2 * gamma * ratio + ratio**2)
    half_delta = np.maximum(0.0, np.log(plasma / ionisation) + np.log(beta_gamma) - 0.5)
    log_term = 0.5 * np.log(2 * ME * bg2 * t_max / ionisation**2)
    return 0.307075 * z_over_a / beta2 * (log_term - beta2 - half_delta)


def _build_range_table() -> tuple[np.ndarray, np.ndarray]:
    """log(beta*gamma) grid and log(range / mass) in g cm^-2 MeV^-1, calibrated to the muon range table."""
    log_bg = np.linspace(np.log(0.03), np.log(2.0e4), 1200)
    bg = np.exp(log_bg)
    # dT = M * d(gamma) = M * bg / gamma * d(bg); integrate dT / (dE/dx) per unit mass.
    dedx = np.maximum(_bethe_polystyrene(bg), 1e-3)
    integrand = bg / np.sqrt(1 + bg**2) / dedx * bg  # d(range/M)/d(log bg)
    r = np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(log_bg))])
    r += integrand[0] * 0.5  # range below the first grid point (dE/dx ~ 1/beta^2 there)
    bg_table = _TABLE_P_GEV * 1000.0 / MASS_MUON
    predicted = np.interp(np.log(bg_table), log_bg, r) * MASS_MUON
    scale = np.exp(np.mean(np.log(_TABLE_RANGE_CM * CH_RANGE_DENSITY / predicted)))
    return log_bg, np.log(r * scale)


_LOG_BG, _LOG_R_PER_M = _build_range_table()


def range_g_cm2(kinetic_mev: np.ndarray, mass_mev: np.ndarray) -> np.ndarray:
    """CSDA range (g/cm^2 of CH-equivalent) of a particle of kinetic energy T and mass M."""
    t = np.maximum(kinetic_mev, 1e-6)
    bg = np.sqrt(t * (t + 2 * mass_mev)) / mass_mev
    return mass_mev * np.exp(np.interp(np.log(bg), _LOG_BG, _LOG_R_PER_M))


def kinetic_from_range(range_g: np.ndarray, mass_mev: np.ndarray) -> np.ndarray:
    """Inverse of :func:`range_g_cm2`: kinetic energy (MeV) of a particle with this range."""
    r = np.maximum(range_g, 1e-12) / mass_mev
    bg = np.exp(np.interp(np.log(r), _LOG_R_PER_M, _LOG_BG))
    return mass_mev * (np.sqrt(1 + bg**2) - 1)


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
