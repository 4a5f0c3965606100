"""flopwise: what a neural network really costs, and why.

>>> import flopwise, torchvision
>>> p = flopwise.profile(torchvision.models.resnet50(), torch.randn(1, 3, 224, 224))
>>> p.totals.macs
4089184256
"""

__version__ = "0.1.0"

from flopwise.capture.mode import capture
from flopwise.capture.records import OpRecord
from flopwise.profile import ModuleStats, Profile, Totals, count, profile

__all__ = [
    "ModuleStats",
    "OpRecord",
    "Profile",
    "Totals",
    "capture",
    "count",
    "profile",
    "__version__",
]
