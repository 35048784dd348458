"""ONNX: a network holding FreqFusion (with the offset generator) exports with the plain
``torch.onnx.export(..., dynamo=True)`` call and dynamic sizes, and onnxruntime matches eager
within 1e-4 (relative to the largest output) at two sizes and batch sizes.

ONNX has no CARAFE: while exporting, :func:`freqfusion_edu.carafe` emits its tap loop in
standard operators (``carafe_taps``). Exporting takes tens of seconds on a CPU, hence ``slow``.
"""
import pytest
import torch

from freqfusion_edu import FreqFusion
from freqfusion_edu.functional.reassembly import carafe_reference, carafe_taps

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


class _Net(torch.nn.Module):
    """image -> two strided convs (1/2 and 1/4) -> FreqFusion -> concat -> 1x1 classifier."""

    def __init__(self):
        super().__init__()
        self.down1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.down2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.ff = FreqFusion(8, 16, compressed_channels=8, feature_resample=True)
        self.cls = torch.nn.Conv2d(24, 5, 1)

    def forward(self, image):
        hr = self.down1(image).relu()
        lr = self.down2(hr).relu()
        _, hr, lr = self.ff(hr, lr)
        return self.cls(torch.cat([hr, lr], 1))


def test_carafe_taps_equals_the_reference():
    torch.manual_seed(0)
    for k, g, s in [(5, 1, 2), (3, 2, 1), (3, 1, 3)]:
        x, m = torch.randn(2, 4, 5, 7), torch.randn(2, g * k * k, 5 * s, 7 * s)
        torch.testing.assert_close(carafe_taps(x, m, k, g, s), carafe_reference(x, m, k, g, s))


@pytest.mark.slow
def test_onnx_export_runs_in_onnxruntime_at_two_sizes(tmp_path):
    torch.manual_seed(0)
    net = _Net().eval()
    n = torch.export.Dim("n", min=1, max=16)
    h = torch.export.Dim("h", min=4, max=128)   # FreqFusion's low-res input is h x w
    w = torch.export.Dim("w", min=4, max=128)
    path = tmp_path / "net.onnx"
    torch.onnx.export(net, (torch.randn(2, 3, 32, 48),), path, dynamo=True,
                      dynamic_shapes=({0: n, 2: 4 * h, 3: 4 * w},))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for b, size in [(2, (32, 48)), (1, (40, 24))]:
        image = torch.randn(b, 3, *size)
        got = torch.from_numpy(session.run(None, {name: image.numpy()})[0])
        with torch.no_grad():
            ref = net(image)
        assert got.shape == ref.shape == (b, 5, size[0] // 2, size[1] // 2)
        rel = ((got - ref).abs().max() / ref.abs().max()).item()
        assert rel < 1e-4, rel
