"""The embedded synthetic cluster population: masses from a halo mass function, gas from published models.

`Model(**cfg.synthetic)` holds the `synthetic` section. `Model.masses` draws M500c from colossus'
mass function; `Model.properties` draws one cluster's global properties; `Model.gas` samples its
gas as equal-mass particles. Every random number of halo `i` comes from
`SeedSequence([run.seed, i, stream])`, so one halo generated alone is bit-identical to the same halo
generated inside any population, of any size.

The ingredients and where they come from (docs/halos.md has the same list with the numbers):
- masses: the Tinker et al. (2008, ApJ 688, 709) mass function for M500c, as colossus evaluates it;
- M-T: Vikhlinin et al. (2009, ApJ 692, 1033), M500 = 3.02e14 h^-1 Msun (T/5 keV)^1.53 / E(z), with
  log-normal scatter in T; the relation was calibrated on hydrostatic masses, so it is applied to
  M_HSE = (1 - b) M500c with b = `hydrostatic_bias` (0.2: Planck 2015 XXIV, A&A 594, A24; Hoekstra et
  al. 2015, MNRAS 449, 685);
- gas fraction: f_gas,500 = 0.13 (M500 / 1e15 Msun)^`fgas_slope` (0.13 at 1e15 Msun: Vikhlinin et al.
  2006, ApJ 640, 691; slope 0.30, steeper than the 0.22 of Lovisari et al. 2015, A&A 573, A118, set by
  the calibration on published L_X-M relations, docs/calibration.md), log-normal scatter, capped below
  Omega_b/Omega_m;
- density: the Vikhlinin et al. (2006) eq. 3 profile (cusp, core, outer steepening, second central
  component), with cool-core and non-cool-core parameter ranges taken from their Table 2; core radii
  scaled by (M500 / 10^14.5 Msun)^-`core_radius_slope` and the outer slope beta by
  (M500 / 10^14.5 Msun)^`beta_slope` (groups: larger cores and beta ~ 0.43-0.59, Osmond & Ponman 2004,
  MNRAS 350, 1511; Sun et al. 2009, ApJ 693, 1142), both calibrated on L_X-M (docs/calibration.md);
- temperature: the Vikhlinin et al. (2006) eq. 6/8 profile (central cool-core decrement, decline
  outside 0.6 R500) per body; the halo's particle temperatures (all bodies, clumps included) are then
  scaled so that their spectroscopic-like temperature (Mazzotta et al. 2004, MNRAS 354, 10) in the
  projected annulus 0.15-1 R500 (lines of sight x, y, z together) is the M-T temperature with its scatter;
- cool-core fraction: ~40% (Hudson et al. 2010, A&A 513, A37; Andrade-Santos et al. 2017, ApJ 843, 76);
- shape: triaxial gas with axis ratios 0.75-1 (Lau et al. 2011, ApJ 734, 93) and a random orientation;
- substructure: Poisson number of infalling gas-rich subhalos, mass function dN/dm ~ m^-1.9
  (Giocoli et al. 2010, MNRAS 404, 502), partially stripped;
- mergers: a second body of mass ratio 0.1-0.35 offset by 0.4-1.2 R500 and falling in, neither with a
  cool core; the infalling body has the M-T temperature of its own mass raised by 10-50% in the
  merger shock (Ritchie & Thomas 2002, MNRAS 329, 675);
- clumping: isobaric log-normal density fluctuations (T / delta at each particle, so pressure follows the
  smooth profile) with <rho^2>/<rho>^2 = 1 + (C500 - 1) min(r/R500, `clumping_saturation_r500c`)^2,
  bounded beyond ~R200c (Nagai & Lau 2011, ApJ 731, L10; Eckert et al. 2015, MNRAS 447, 2198), at
  constant volume;
- metallicity: 0.3 Zsun outside (Werner et al. 2013, Nature 502, 656) rising to 0.6-0.9 Zsun in cool
  cores and 0.35-0.45 Zsun in non-cool cores (De Grandi & Molendi 2001, ApJ 551, 153);
- star-forming cold phase in cores: n_H above 0.13 cm^-3 with the star-formation time scale of
  Springel & Hernquist (2003, MNRAS 339, 289) as used by TNG (Pillepich et al. 2018, MNRAS 473, 4077);
- bright nonphysical clumps: dense (1-10 cm^-3), 0.2-0.5 keV, not star-forming, off centre, like the
  outlier Ntampaka et al. (2019) discuss.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Iterator

import numpy as np

from ..errors import InputError
from . import cosmo
from .cosmo import G_KPC_KMS2_MSUN, K_B_ERG, KEV_K, M_P_G, MSUN_KPC3_G_CM3, MU_IONISED, X_H

STREAM_MASS, STREAM_PROPERTIES, STREAM_PARTICLES = 0, 1, 2
X_FLOOR = 1e-3                  # profiles are evaluated at r >= 1e-3 R500 (about 1 kpc)
N_GRID = 2048                   # radial grid of the profile integrals
SMOOTHING_FACTOR = 2.0          # h = 2 (3 V / 4 pi)^(1/3), yt's Arepo convention
NH_STAR_FORMING = 0.13          # cm^-3, TNG's star-formation threshold
T_STAR_GYR = 2.27               # Springel & Hernquist (2003) star-formation time scale at threshold
GYR_YR = 1.0e9
CORE_PIVOT_MSUN = 10**14.5      # core radii scale as (M500c / 10^14.5 Msun)^-core_radius_slope


def halo_rng(seed: int, halo_id: int, stream: int) -> np.random.Generator:
    """The random stream `stream` of halo `halo_id` under the run seed: independent of everything else."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(halo_id), int(stream)]))


@dataclass(frozen=True)
class Profile:
    """Vikhlinin et al. (2006) density (eq. 3) and temperature (eq. 6) shapes in x = r / R500."""

    alpha: float = 0.0
    beta: float = 2.0 / 3.0
    xc: float = 0.15
    xs: float = 1.0
    eps: float = 0.0
    a2: float = 0.0
    xc2: float = 0.02
    beta2: float = 1.0
    tmin: float = 1.0
    xcool: float = 0.045
    z_in: float = 0.3
    z_out: float = 0.3

    def density(self, x: np.ndarray) -> np.ndarray:
        """Electron density shape (Vikhlinin et al. 2006 form), dimensionless, at radius x.

        Parameters
        ----------
        x : ndarray
            Radius in units of R500c (floored at X_FLOOR).

        Returns
        -------
        ndarray
            n_e(x) / n_e0; the halo's gas mass sets the normalisation.
        """
        x = np.maximum(x, X_FLOOR)
        u = x / self.xc
        n2 = u ** -self.alpha / (1.0 + u * u) ** (3.0 * self.beta - 0.5 * self.alpha)
        if self.eps:
            n2 /= (1.0 + (x / self.xs) ** 3) ** (self.eps / 3.0)
        if self.a2:
            n2 += self.a2 / (1.0 + (x / self.xc2) ** 2) ** (3.0 * self.beta2)
        return np.sqrt(n2)

    def temperature(self, x: np.ndarray) -> np.ndarray:
        """Temperature shape, T(x) / T0, at radius x in units of R500c (cool core set by tmin, xcool)."""
        c = (np.maximum(x, X_FLOOR) / self.xcool) ** 1.9
        return (c + self.tmin) / (c + 1.0) / (1.0 + (x / 0.6) ** 2) ** 0.45

    def metallicity(self, x: np.ndarray) -> np.ndarray:
        """Metallicity in solar units at radius x in units of R500c: z_in in the centre, z_out outside."""
        return self.z_out + (self.z_in - self.z_out) / (1.0 + (x / 0.1) ** 2)


@dataclass
class Component:
    """One gas body: the main halo, a merging partner or an infalling subhalo."""

    profile: Profile
    r500: float                     # kpc, the unit of x
    r_trunc: float                  # kpc, no gas beyond
    gas_mass_500: float             # Msun of gas inside r500
    t_x_kev: float                  # spectroscopic-like temperature in 0.15-1 r500
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    axes: np.ndarray = field(default_factory=lambda: np.ones(3))
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self):
        self._spherical = bool(np.all(self.axes == 1.0) and np.all(self.rotation == np.eye(3)))
        x = np.geomspace(X_FLOOR, self.r_trunc / self.r500, N_GRID)
        shape = self.profile.density(x)
        dm = 4.0 * np.pi * self.r500**3 * shape * x**3          # dM / dln x for rho0 = 1
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (dm[1:] + dm[:-1]) * np.diff(np.log(x)))])
        inside = np.interp(np.log(min(1.0, x[-1])), np.log(x), cum)
        self.rho0 = self.gas_mass_500 / inside                  # Msun / kpc^3
        self.gas_mass = self.rho0 * cum[-1]
        self._x, self._cdf = x, cum / cum[-1]
        ring = (x >= 0.15) & (x <= 1.0)
        t, w = self.profile.temperature(x[ring]), (shape[ring] ** 2 * x[ring] ** 3)
        w = w * t ** -0.75
        self.t0_kev = self.t_x_kev * w.sum() / (w * t).sum()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n positions (kpc) drawn from the mass profile, stretched to the ellipsoid and rotated."""
        x = np.exp(np.interp(rng.random(n), self._cdf, np.log(self._x)))
        direction = rng.standard_normal((n, 3))
        direction /= np.linalg.norm(direction, axis=1)[:, None]
        s = direction * (x * self.r500)[:, None]
        if self._spherical:
            return s + self.centre
        return np.einsum("ij,kj->ik", s * self.axes, self.rotation) + self.centre

    def evaluate(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gas density (Msun/kpc^3), temperature (keV) and metallicity (Zsun) of this body at pos."""
        s = pos - self.centre
        if not self._spherical:
            s = np.einsum("ij,jk->ik", s, self.rotation) / self.axes
        x = np.sqrt(np.einsum("ij,ij->i", s, s)) / self.r500
        rho = np.where(x <= self.r_trunc / self.r500, self.rho0 * self.profile.density(x), 0.0)
        return rho, self.t0_kev * self.profile.temperature(x), self.profile.metallicity(x)


@dataclass
class HaloProperties:
    """The global draws of one cluster (everything but the particles)."""

    halo_id: int
    m500c: float
    r500c: float
    t_x_kev: float
    f_gas: float
    cool_core: bool
    merger: bool
    bright_clump: bool
    clumping_r500c: float
    components: list[Component]
    bright_centre: np.ndarray


@dataclass(frozen=True)
class Model:
    """The `synthetic` config section: population size, particle count, and the scatter of each relation."""

    n_halos: int = 329
    particles_per_halo: int = 1_000_000
    r_max_r500c: float = 3.0
    mass_function: str = "tinker08"
    scatter_ln_t: float = 0.10
    scatter_ln_fgas: float = 0.03
    cool_core_fraction: float = 0.40
    merger_fraction: float = 0.25
    substructure_mean: float = 4.0
    axis_ratio_min: float = 0.75
    clumping_r500c: float = 1.2
    clumping_saturation_r500c: float = 1.5
    hydrostatic_bias: float = 0.2
    core_radius_slope: float = 0.4
    beta_slope: float = 0.12
    fgas_slope: float = 0.30
    turbulence_fraction: float = 0.2
    cold_gas_fraction: float = 0.002
    bright_clump_probability: float = 0.02
    bright_clump_fraction: float = 1e-4

    # ---- the population -------------------------------------------------------------------------
    def masses(self, seed: int, halo_ids: np.ndarray, log_m500c_min: float, log_m500c_max: float,
               redshift: float, cosmology: str) -> np.ndarray:
        """M500c of each halo id: an inverse-CDF draw from the mass function with stream 0.

        Parameters
        ----------
        seed : int
            Global seed (`run.seed`).
        halo_ids : ndarray
            Halo ids; halo i's mass depends on (seed, i) only.
        log_m500c_min, log_m500c_max : float
            Mass range, log10(M500c / Msun), inclusive.
        redshift : float
            Redshift of the mass function.
        cosmology : str
            colossus cosmology name, e.g. ``planck15``.

        Returns
        -------
        ndarray
            M500c in Msun, one per id.

        Examples
        --------
        >>> Model().masses(20190507, np.arange(3), 13.57, 15.06, 0.0, "planck15")  # doctest: +SKIP
        """
        if log_m500c_min > log_m500c_max:
            raise InputError(f"halos.log_m500c_min = {log_m500c_min} > halos.log_m500c_max = {log_m500c_max}: "
                             "the mass range is empty")
        grid, cdf = mass_function_cdf(cosmology, redshift, log_m500c_min, log_m500c_max, self.mass_function)
        u = np.array([halo_rng(seed, i, STREAM_MASS).random() for i in halo_ids])
        return 10.0 ** np.interp(u, cdf, grid)

    def population(self, seed: int, log_m500c_min: float, log_m500c_max: float, redshift: float,
                   cosmology: str) -> Iterator[tuple[int, float, dict[str, np.ndarray]]]:
        """(halo_id, M500c, gas) of every halo, in halo order: masses drawn together, gas one by one."""
        ids = np.arange(self.n_halos)
        m500c = self.masses(seed, ids, log_m500c_min, log_m500c_max, redshift, cosmology)
        for halo_id, m in zip(ids, m500c):
            yield int(halo_id), float(m), self.gas(seed, int(halo_id), float(m), redshift, cosmology)

    # ---- one cluster ----------------------------------------------------------------------------
    def properties(self, seed: int, halo_id: int, m500c: float, redshift: float, cosmology: str) -> HaloProperties:
        """The global draws of halo `halo_id` (stream 1): relations with scatter, state, components.

        Parameters
        ----------
        seed, redshift, cosmology
            As for `masses`.
        halo_id : int
            Catalogue id.
        m500c : float
            M500c in Msun.

        Returns
        -------
        HaloProperties
            R500c (kpc), spectroscopic-like temperature (keV), gas fraction, state and gas bodies.
        """
        rng = halo_rng(seed, halo_id, STREAM_PROPERTIES)
        c = cosmo.cosmology(cosmology)
        r500 = float(cosmo.r500c_kpc(m500c, redshift, cosmology))
        m_hse = (1.0 - self.hydrostatic_bias) * m500c      # the M-T relation holds for hydrostatic masses
        t_x = mt_temperature_kev(m_hse, redshift, c) * np.exp(self.scatter_ln_t * rng.standard_normal())
        f_cap = 0.95 * c.Ob0 / c.Om0
        f_gas = min(f_gas_500(m500c, self.fgas_slope) * np.exp(self.scatter_ln_fgas * rng.standard_normal()), f_cap)
        merger = bool(rng.random() < self.merger_fraction)
        cool_core = bool(not merger and rng.random() * (1.0 - self.merger_fraction) < self.cool_core_fraction)
        r_max = self.r_max_r500c * r500
        components = []
        if merger:
            q = rng.uniform(0.1, 0.35)
            m1, m2 = m500c / (1.0 + q), m500c * q / (1.0 + q)
            d = rng.uniform(0.4, 1.2) * r500
            heat = rng.uniform(1.1, 1.5)
            main = self._main(rng, m1, f_gas, t_x, redshift, cosmology, r_max, cool_core=False)
            r2 = float(cosmo.r500c_kpc(m2, redshift, cosmology))
            axis = _unit_vector(rng)
            v_rel = rng.uniform(0.8, 1.5) * np.sqrt(G_KPC_KMS2_MSUN * m500c / r500)
            second = Component(_non_cool_core_profile(rng), r2, min(2.0 * r2, r_max - d), f_gas * m2,
                               t_x * heat * (m2 / m500c) ** (1 / 1.53), centre=d * axis,
                               velocity=-v_rel * axis / (1.0 + q))
            main.velocity = v_rel * axis * q / (1.0 + q)
            components += [main, second]
        else:
            components.append(self._main(rng, m500c, f_gas, t_x, redshift, cosmology, r_max, cool_core))
        components += self._subhalos(rng, m500c, r500, redshift, cosmology, c, r_max)
        clumping = 1.0 + (self.clumping_r500c - 1.0) * rng.uniform(0.5, 1.5)
        bright = bool(rng.random() < self.bright_clump_probability)
        bright_centre = _unit_vector(rng) * rng.uniform(0.1, 0.6) * r500
        return HaloProperties(int(halo_id), float(m500c), r500, float(t_x), float(f_gas), cool_core, merger,
                              bright, float(clumping), components, bright_centre)

    def _main(self, rng, m500c, f_gas, t_x, redshift, cosmology, r_max, cool_core) -> Component:
        r500 = float(cosmo.r500c_kpc(m500c, redshift, cosmology))
        profile = _cool_core_profile(rng) if cool_core else _non_cool_core_profile(rng)
        if self.core_radius_slope:
            scale = (m500c / CORE_PIVOT_MSUN) ** -self.core_radius_slope
            profile = replace(profile, xc=profile.xc * scale, xc2=profile.xc2 * scale)
        if self.beta_slope:
            profile = replace(profile, beta=profile.beta * (m500c / CORE_PIVOT_MSUN) ** self.beta_slope)
        q1 = rng.uniform(self.axis_ratio_min, 1.0)
        q2 = rng.uniform(self.axis_ratio_min, q1)
        a = (q1 * q2) ** (-1.0 / 3.0)
        return Component(profile, r500, r_max, f_gas * m500c, t_x, axes=np.array([a, q1 * a, q2 * a]),
                         rotation=_random_rotation(rng))

    def _subhalos(self, rng, m500c, r500, redshift, cosmology, c, r_max) -> list[Component]:
        """Infalling, partially stripped gas-rich subhalos (Giocoli et al. 2010 mass function)."""
        subs = []
        for _ in range(rng.poisson(self.substructure_mean)):
            mu = _power_law(rng, 1e-3, 0.1, 1.9)
            m = mu * m500c
            r_s = float(cosmo.r500c_kpc(m, redshift, cosmology))
            trunc = rng.uniform(0.5, 1.0) * r_s
            dist = min(rng.uniform(0.3, 2.0) * r500, r_max - trunc)
            axis = _unit_vector(rng)
            v = rng.uniform(0.8, 1.5) * np.sqrt(G_KPC_KMS2_MSUN * m500c / r500)
            retained = rng.uniform(0.2, 0.6)
            profile = Profile(alpha=0.0, beta=2.0 / 3.0, xc=0.15, tmin=1.0, z_in=0.4, z_out=0.3)
            t_sub = mt_temperature_kev((1.0 - self.hydrostatic_bias) * m, redshift, c)
            subs.append(Component(profile, r_s, trunc, retained * f_gas_500(m, self.fgas_slope) * m, t_sub,
                                  centre=dist * axis, velocity=-v * axis))
        return subs

    def gas(self, seed: int, halo_id: int, m500c: float, redshift: float, cosmology: str) -> dict[str, np.ndarray]:
        """The gas particles of one halo, centred on (0, 0, 0); GAS_FIELDS gives names and units.

        Bodies are sampled, their densities summed at every particle, clumping applied, and all ICM
        temperatures scaled so that T_sl in the projected 0.15-1 R500 annulus is the halo's M-T temperature.

        Parameters
        ----------
        seed, halo_id, m500c, redshift, cosmology
            As for `properties` (M500c in Msun); the same arguments give the same particles.

        Returns
        -------
        dict of ndarray
            Per particle, in the units of GAS_FIELDS: position (kpc), velocity (km/s), mass (Msun),
            density (g/cm^3), temperature (K), metallicity (Zsun), smoothing length (kpc), star formation rate.
        """
        props = self.properties(seed, halo_id, m500c, redshift, cosmology)
        rng = halo_rng(seed, halo_id, STREAM_PARTICLES)
        n = self.particles_per_halo
        n_cold = int(round(self.cold_gas_fraction * n * (1.0 if props.cool_core else 0.1)))
        n_bright = max(1, int(round(self.bright_clump_fraction * n))) if props.bright_clump else 0
        n_icm = n - n_cold - n_bright
        comps = props.components
        masses = np.array([comp.gas_mass for comp in comps])
        counts = np.round(n_icm * masses / masses.sum()).astype(np.int64)
        counts[0] = n_icm - counts[1:].sum()
        m_particle = masses.sum() / n_icm
        pos = np.concatenate([comp.sample(rng, k) for comp, k in zip(comps, counts)])
        velocity = np.repeat(np.array([comp.velocity for comp in comps]), counts, axis=0)
        rho, t_kev, z = _mix(comps, pos)
        rho, t_kev = _clump(rng, pos, rho, t_kev, props.r500c, props.clumping_r500c,
                            self.clumping_saturation_r500c)
        t_kev *= props.t_x_kev / spectroscopic_like_kev(pos, rho, t_kev, props.r500c)
        sigma = self.turbulence_fraction * _sound_speed_kms(t_kev)
        velocity = velocity + rng.standard_normal((n_icm, 3)) * sigma[:, None]
        icm = {"pos": pos, "vel": velocity, "rho": rho * MSUN_KPC3_G_CM3, "t": t_kev * KEV_K, "z": z,
               "sfr": np.zeros(n_icm)}
        cold = _cold_phase(rng, n_cold, props.r500c, m_particle)
        return _assemble([icm, cold, _bright_clump(rng, n_bright, props.bright_centre)], m_particle)


GAS_FIELDS = {
    "position": "kpc, [N,3], physical, halo centre at the catalogue's `centre`",
    "velocity": "km/s, [N,3]",
    "mass": "Msun",
    "density": "g/cm^3",
    "temperature": "K",
    "metallicity": "Zsun",
    "smoothing_length": "kpc, 2 (3 m / 4 pi rho)^(1/3) as yt's Arepo frontend",
    "star_formation_rate": "Msun/yr, > 0 for star-forming gas",
}


def _assemble(parts: list[dict], m_particle: float) -> dict[str, np.ndarray]:
    rho = np.concatenate([p["rho"] for p in parts])
    mass = np.full(rho.size, m_particle)
    return {
        "position": np.concatenate([p["pos"] for p in parts]),
        "velocity": np.concatenate([p["vel"] for p in parts]),
        "mass": mass,
        "density": rho,
        "temperature": np.concatenate([p["t"] for p in parts]),
        "metallicity": np.concatenate([p["z"] for p in parts]),
        "smoothing_length": smoothing_length_kpc(mass, rho),
        "star_formation_rate": np.concatenate([p["sfr"] for p in parts]),
    }


def smoothing_length_kpc(mass_msun: np.ndarray, density_g_cm3: np.ndarray) -> np.ndarray:
    """yt's Arepo convention: twice the radius of the sphere of the cell's volume m / rho."""
    volume_kpc3 = mass_msun / (density_g_cm3 / MSUN_KPC3_G_CM3)
    return SMOOTHING_FACTOR * np.cbrt(3.0 * volume_kpc3 / (4.0 * np.pi))


def _mix(comps: list[Component], pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total density of all bodies at each particle; temperature and metallicity density-weighted."""
    rho = np.zeros(len(pos))
    rho_t = np.zeros(len(pos))
    rho_z = np.zeros(len(pos))
    for comp in comps:
        r, t, z = comp.evaluate(pos)
        rho += r
        rho_t += r * t
        rho_z += r * z
    return rho, rho_t / rho, rho_z / rho


def spectroscopic_like_kev(pos: np.ndarray, rho: np.ndarray, t_kev: np.ndarray, r500: float) -> float:
    """Mazzotta et al. (2004) T_sl of equal-mass particles (weights rho T^-3/4, kT > 0.1 keV) in the
    projected annulus 0.15-1 R500, the three lines of sight x, y, z together."""
    hot = t_kev > 0.1
    w = np.where(hot, rho * t_kev ** -0.75, 0.0)
    sum_w = sum_wt = 0.0
    for axis in range(3):
        other = [a for a in range(3) if a != axis]
        r = np.hypot(pos[:, other[0]], pos[:, other[1]]) / r500
        ring = (r >= 0.15) & (r <= 1.0)
        sum_w += w[ring].sum()
        sum_wt += (w[ring] * t_kev[ring]).sum()
    return float(sum_wt / sum_w)


def clumping_factor(x: np.ndarray, c500: float, x_sat: float) -> np.ndarray:
    """<rho^2>/<rho>^2 at r = x R500: 1 + (C500 - 1) x^2 up to x_sat (R200c ~ 1.5 R500c), constant beyond."""
    x = np.minimum(np.asarray(x, float), x_sat)
    return 1.0 + (c500 - 1.0) * x * x


def _clump(rng, pos, rho, t_kev, r500, c500, x_sat) -> tuple[np.ndarray, np.ndarray]:
    """Isobaric log-normal clumping at constant volume (<1/delta> = 1, <delta> = C): T = T / delta, so the
    pressure rho T of each particle is that of the smooth profile (fluctuations in pressure balance)."""
    x = np.linalg.norm(pos, axis=1) / r500
    sigma = np.sqrt(np.log(clumping_factor(x, c500, x_sat)))
    delta = np.exp(sigma * rng.standard_normal(len(pos)) + 0.5 * sigma * sigma)
    return rho * delta, t_kev / delta


def _cold_phase(rng, n: int, r500: float, m_particle: float) -> dict[str, np.ndarray]:
    """Dense star-forming gas in the core: n_H >= 0.13 cm^-3, 1e4-1e5 K (TNG's effective equation of state)."""
    r = np.minimum(rng.exponential(0.005 * r500, n), 0.03 * r500)
    pos = _unit_vectors(rng, n) * r[:, None]
    n_h = NH_STAR_FORMING * 10.0 ** rng.uniform(0.0, 1.5, n)
    rho = n_h * M_P_G / X_H
    t_star_yr = T_STAR_GYR * GYR_YR * np.sqrt(NH_STAR_FORMING / n_h)
    return {"pos": pos, "vel": rng.standard_normal((n, 3)) * 150.0, "rho": rho,
            "t": 10.0 ** rng.uniform(4.0, 5.0, n), "z": rng.uniform(0.8, 1.2, n), "sfr": m_particle / t_star_yr}


def _bright_clump(rng, n: int, centre: np.ndarray) -> dict[str, np.ndarray]:
    """A few dense, warm, non-star-forming particles off centre: a nonphysical point-like X-ray source."""
    n_h = 10.0 ** rng.uniform(0.0, 1.0, n)
    return {"pos": centre + rng.standard_normal((n, 3)) * 2.0, "vel": rng.standard_normal((n, 3)) * 100.0,
            "rho": n_h * M_P_G / X_H, "t": 10.0 ** rng.uniform(6.3, 6.8, n), "z": np.full(n, 0.3),
            "sfr": np.zeros(n)}


def _cool_core_profile(rng) -> Profile:
    """Cool core: central cusp and second component, temperature dropping to 35-55% (Vikhlinin+2006 Table 2)."""
    return Profile(alpha=rng.uniform(0.5, 2.0), beta=rng.uniform(0.55, 0.7), xc=rng.uniform(0.08, 0.2),
                   xs=rng.uniform(0.8, 1.6), eps=rng.uniform(2.0, 4.0), a2=10.0 ** rng.uniform(0.6, 1.8),
                   xc2=rng.uniform(0.02, 0.05), beta2=1.0, tmin=rng.uniform(0.35, 0.55),
                   xcool=0.045 * rng.uniform(0.7, 1.5), z_in=rng.uniform(0.6, 0.9), z_out=rng.uniform(0.25, 0.35))


def _non_cool_core_profile(rng) -> Profile:
    """Non-cool core: flat large core, no central component, nearly isothermal centre."""
    return Profile(alpha=rng.uniform(0.0, 0.3), beta=rng.uniform(0.55, 0.75), xc=rng.uniform(0.15, 0.35),
                   xs=rng.uniform(0.8, 1.6), eps=rng.uniform(2.0, 4.0), tmin=rng.uniform(0.85, 1.0),
                   z_in=rng.uniform(0.35, 0.45), z_out=rng.uniform(0.25, 0.35))


def mt_temperature_kev(m500c: float, redshift: float, c) -> float:
    """Vikhlinin et al. (2009): M500 = 3.02e14 h^-1 Msun (T / 5 keV)^1.53 / E(z), solved for T.

    The relation holds for hydrostatic masses: callers pass M_HSE = (1 - b) M_true.
    """
    return 5.0 * (m500c * c.h * c.Ez(redshift) / 3.02e14) ** (1.0 / 1.53)


def f_gas_500(m500c: float, slope: float = 0.22) -> float:
    """Gas fraction inside R500: 0.13 (M500 / 1e15 Msun)^slope (slope 0.22: Lovisari+2015; norm: Vikhlinin+2006)."""
    return 0.13 * (m500c / 1e15) ** slope


def _sound_speed_kms(t_kev: np.ndarray) -> np.ndarray:
    """Isothermal sound speed sqrt(kT / mu m_p) in km/s."""
    return np.sqrt(t_kev * KEV_K * K_B_ERG / (MU_IONISED * M_P_G)) / 1e5


def _power_law(rng, lo: float, hi: float, slope: float) -> float:
    """One draw from dN/dx ~ x^-slope on [lo, hi]."""
    a, b = lo ** (1.0 - slope), hi ** (1.0 - slope)
    return (a + rng.random() * (b - a)) ** (1.0 / (1.0 - slope))


def _unit_vector(rng) -> np.ndarray:
    v = rng.standard_normal(3)
    return v / np.linalg.norm(v)


def _unit_vectors(rng, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1)[:, None]


def _random_rotation(rng) -> np.ndarray:
    """A uniformly random rotation matrix (from a normalised Gaussian quaternion)."""
    w, x, y, z = _unit_quaternion(rng)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _unit_quaternion(rng) -> np.ndarray:
    q = rng.standard_normal(4)
    return q / np.linalg.norm(q)


@lru_cache(maxsize=8)
def mass_function_cdf(cosmology: str, redshift: float, log_min: float, log_max: float,
                      model: str) -> tuple[np.ndarray, np.ndarray]:
    """log10(M500c/Msun) grid and the cumulative distribution of dn/dlnM over [log_min, log_max]."""
    from colossus.lss import mass_function

    c = cosmo.cosmology(cosmology)
    if log_min == log_max:
        return np.array([log_min, log_max]), np.array([0.0, 1.0])
    grid = np.linspace(log_min, log_max, 1024)
    dn = mass_function.massFunction(10.0**grid * c.h, redshift, mdef="500c", model=model, q_out="dndlnM")
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dn[1:] + dn[:-1]) * np.diff(grid))])
    return grid, cum / cum[-1]
