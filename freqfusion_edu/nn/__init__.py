"""nn.Modules, thin over :mod:`freqfusion_edu.functional`."""
from .freqfusion import FreqFusion, FreqFusionOutput
from .sampler import LocalSimGuidedSampler

__all__ = ["FreqFusion", "FreqFusionOutput", "LocalSimGuidedSampler"]
