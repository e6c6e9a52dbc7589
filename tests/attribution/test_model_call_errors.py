"""A model that cannot take ``X`` (other channels, image size or columns) is a one-line ``ModelCallError``
naming ``X``'s row shape and the model's own complaint, raised by every torch method, not torch's bare error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_reports as xr
from xai_reports.errors import ExplanationError, ModelCallError

METHODS = ["integrated_gradients", "saliency", "gradient_x_input", "smoothgrad", "grad_cam", "grad_cam_pp", "lrp", "occlusion"]


def _cnn():
    torch.manual_seed(3)  # a linear head: the image size is fixed (5x7, not square), and so are the channels
    return torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 5 * 7, 3)).eval()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape, says", [((3, 3, 5, 7), "channels"), ((3, 2, 6, 7), "cannot be multiplied")])
def test_wrong_image_shape(method, shape, says):
    m = _cnn()
    xr.explain(m, np.random.default_rng(0).random((3, 2, 5, 7), dtype=np.float32), method=method)  # the right shape works
    X = np.random.default_rng(1).random(shape, dtype=np.float32)
    with pytest.raises(ModelCallError) as info:
        xr.explain(m, X, method=method)
    msg = str(info.value)
    assert msg.startswith(f"X: the model could not be run on rows of shape {shape[1:]}") and says in msg
    assert "\n" not in msg
    assert isinstance(info.value, ExplanationError) and isinstance(info.value, RuntimeError)
    assert isinstance(info.value.__cause__, RuntimeError)  # torch's own error, chained


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "occlusion"])
def test_wrong_number_of_columns_for_a_tabular_network(method):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double().eval()
    with pytest.raises(ModelCallError, match=r"rows of shape \(5,\) \(float64\).*6x8|rows of shape \(5,\).*5"):
        xr.explain(m, np.zeros((4, 5)), method=method)


def test_a_model_bug_is_not_hidden():
    """An error the model raises itself keeps its words (and still reads as a RuntimeError)."""

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("the scaler was not fitted\n(second line)")

    with pytest.raises(RuntimeError, match="RuntimeError: the scaler was not fitted$"):
        xr.explain(Broken(), np.zeros((2, 3), dtype=np.float32), method="saliency")
