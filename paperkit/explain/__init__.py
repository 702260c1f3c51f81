"""Explaining, diagnosing and treating classifiers: hooks on conv layers and Model Doctor.

>>> from paperkit.explain import DoctorConfig, aggregate_correlation, treat   # doctest: +SKIP
"""
from paperkit.explain.adversarial import discovery2_curves, feature_noise_flips, fgsm
from paperkit.explain.hooks import (
    FeatureTaps,
    conv_layer_names,
    feature_point_names,
    select_conv_layers,
    select_feature_layers,
)
from paperkit.explain.model_doctor import (
    Correlation,
    DoctorConfig,
    DoctorObjective,
    NoiseBank,
    TreatResult,
    aggregate_correlation,
    aggregate_correlation_reference,
    background_mask,
    channel_masks,
    constraint_losses,
    correlation_sparsity,
    per_sample_correlation,
    runner_up_class,
    select_samples,
    treat,
)

__all__ = [
    "Correlation", "DoctorConfig", "DoctorObjective", "FeatureTaps", "NoiseBank", "TreatResult",
    "aggregate_correlation", "aggregate_correlation_reference", "background_mask", "channel_masks",
    "constraint_losses", "conv_layer_names", "correlation_sparsity", "discovery2_curves",
    "feature_noise_flips", "feature_point_names", "fgsm", "per_sample_correlation", "runner_up_class",
    "select_conv_layers", "select_feature_layers", "select_samples", "treat",
]
