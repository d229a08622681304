"""Interaction-mix audit figures of the simulator (issue 13, items 1-2) on N events of one beam.

Prints NC/CC, the CC QE/RES/DIS/other shares in bins of E_nu, the CC QE mean Q^2 and the share
of CC events whose muon has under 50 MeV of kinetic energy. It calls only ``sample_energy`` and
``sample_interactions`` (the first steps of every simulated event), so it runs in about a second
and works on any version of the simulator. References: Formaggio & Zeller, Rev. Mod. Phys. 84
(2012) 1307 (channel shares); C. H. Llewellyn Smith, Phys. Rep. 3 (1972) 261 (NC/CC, QE Q^2).

    .venv/bin/python benchmarks/kinematics_figures.py [--events 20000] [--beam le] [--seed 1]
"""

from __future__ import annotations

import argparse

import numpy as np

from nuclassify.simulate._kinematics import sample_energy, sample_interactions

MUON_MASS_MEV = 105.658
BINS_GEV = ((0.5, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 5.0), (5.0, 10.0), (10.0, 20.0))


def figures(n: int, beam: str, seed: int) -> dict[str, object]:
    """The audit figures on ``n`` νμ events of ``beam`` drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    e_nu = sample_energy(rng, n, beam)
    kin = sample_interactions(rng, e_nu, np.zeros(n, dtype=np.int64))
    cc = kin["current"] == 1
    channel = kin["int_type"]
    t_mu = e_nu - kin["nu"] - MUON_MASS_MEV
    out: dict[str, object] = {
        "nc_over_cc": float(np.sum(~cc) / np.sum(cc)),
        "cc_muon_under_50_mev": float(np.mean(t_mu[cc] < 50.0)),
        "cc_qe_mean_q2_gev2": float(np.mean(kin["Q2"][cc & (channel == 1)]) / 1e6),
    }
    e_gev = e_nu / 1000.0
    for lo, hi in BINS_GEV:
        sel = cc & (e_gev >= lo) & (e_gev < hi)
        shares = [float(np.mean(channel[sel] == c)) if sel.any() else float("nan") for c in (1, 2, 3, 4)]
        out[f"cc_{lo:g}-{hi:g}_gev_qe_res_dis_other"] = (shares, int(sel.sum()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--beam", default="le", choices=("le", "me", "nova"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for key, value in figures(args.events, args.beam, args.seed).items():
        if isinstance(value, tuple):
            shares, count = value
            print(f"{key}: {' / '.join(f'{s:.3f}' for s in shares)}  ({count} CC events)")
        else:
            print(f"{key}: {value:.4f}")


if __name__ == "__main__":
    main()
