"""Ketamine pharmacokinetics: published models with sources, exact simulation, populations, TCI.

Pure package: NumPy/SciPy only, usable from a notebook. See docs/pharmacology.md.
"""

from __future__ import annotations

from ketaclinic.pharmacology.bands import ConcentrationBand, concentration_bands, get_band
from ketaclinic.pharmacology.derived import (
    auc,
    context_sensitive_half_time_min,
    ke0_from_t_peak,
    minutes_above,
    minutes_below,
    minutes_within,
    peak,
    steady_state_cp_ng_ml,
)
from ketaclinic.pharmacology.metabolite import (
    MetaboliteModel,
    MetabolitePrediction,
    get_metabolite_model,
    simulate_metabolite,
)
from ketaclinic.pharmacology.models import PKModel, check_patient, get_model, list_models
from ketaclinic.pharmacology.regimen import Bolus, Infusion, Regimen
from ketaclinic.pharmacology.simulate import (
    BatchPrediction,
    PopulationPrediction,
    Prediction,
    simulate,
    simulate_batch,
    simulate_population,
    uniform_weights,
)
from ketaclinic.pharmacology.tci import (
    PracticalResult,
    RateSegment,
    TciResult,
    practical_schedule,
    tci_effect,
    tci_plasma,
)

__all__ = [
    "BatchPrediction",
    "Bolus",
    "ConcentrationBand",
    "Infusion",
    "MetaboliteModel",
    "MetabolitePrediction",
    "PKModel",
    "PopulationPrediction",
    "PracticalResult",
    "Prediction",
    "RateSegment",
    "Regimen",
    "TciResult",
    "auc",
    "check_patient",
    "concentration_bands",
    "context_sensitive_half_time_min",
    "get_band",
    "get_metabolite_model",
    "get_model",
    "ke0_from_t_peak",
    "list_models",
    "minutes_above",
    "minutes_below",
    "minutes_within",
    "peak",
    "practical_schedule",
    "simulate",
    "simulate_batch",
    "simulate_metabolite",
    "simulate_population",
    "steady_state_cp_ng_ml",
    "tci_effect",
    "tci_plasma",
    "uniform_weights",
]
