"""torchvision models count at the input torchvision documents them at (the first weights'
evaluation crop), so the default count is the one torchvision publishes
(``weights.meta['_ops']``, an independent figure) and models that need a larger input run."""

import pytest
import torch
import torchvision

import flopwise
from flopwise.sources import load_model


@pytest.mark.parametrize("name", ["efficientnet_b7", "s3d", "regnet_y_400mf"])
def test_default_input_gives_torchvision_published_gmacs(name):
    loaded = load_model(f"torchvision:{name}", device=torch.device("meta"))
    inputs = [torch.empty(spec.shape, device="meta") for spec in loaded.default_inputs]
    published = next(iter(torchvision.models.get_model_weights(name))).meta["_ops"]
    macs = flopwise.profile(loaded.model, *inputs).totals.macs
    assert macs / 1e9 == pytest.approx(published, abs=0.0005)  # published to 3 decimals
