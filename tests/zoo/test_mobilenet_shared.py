"""ImageNet MobileNets against ../shared: logits equal the independent reference model of
weights/convert_tflite.py, and the shipped fp16 weights classify the 1,000 sample photos."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from visioncircuits.data import ImageFolder, list_images
from visioncircuits.device import torch_threads
from visioncircuits.zoo import load_model
from visioncircuits.zoo.imagenet_eval import evaluate_photos, photo_labels

pytestmark = pytest.mark.shared

FLOAT32 = {
    "mobilenet-v2": "mobilenet_v2_1.0_224_tflite.safetensors",
    "mobilenet-v1": "mobilenet_v1_1.0_224_tflite.safetensors",
    "mobilenet-v1-0.75-192": "mobilenet_v1_0.75_192_tflite.safetensors",
}
# Required top-1 on the 1,000 photos (measured: results/mobilenet_accuracy.json).
MIN_TOP1 = {"mobilenet-v2": 0.86, "mobilenet-v1": 0.85, "mobilenet-v1-0.75-192": 0.75}


@pytest.fixture(scope="module")
def reference(shared_dir):
    """shared/weights/convert_tflite.py, imported by path (it is not part of the package)."""
    pytest.importorskip("safetensors")
    path = shared_dir / "weights" / "convert_tflite.py"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    spec = importlib.util.spec_from_file_location("convert_tflite_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", list(FLOAT32))
def test_logits_equal_the_reference_model_on_photos(name, shared_dir, sample_images_dir, reference):
    """Same float32 weights, same photos: our model (own padding, preprocessing, background
    dropped) gives the reference's logits 1..1000 to 1e-4; the shipped fp16 weights agree on top-1."""
    f32 = shared_dir / "weights" / FLOAT32[name]
    ours = load_model(name, weights=f32)
    ours16 = load_model(name)
    ref = reference.load_model(str(f32))
    paths = list_images(sample_images_dir)[::250]  # 4 photos spread over the classes
    _, images = next(ImageFolder(sample_images_dir, ours.spec.input_size, paths=paths).batches(len(paths)))
    with torch.inference_mode(), torch_threads(2):
        got = ours(images)
        want = ref(images * 2 - 1)[:, 1:]
        got16 = ours16(images)
    assert got.shape == want.shape == (4, 1000)
    assert (got - want).abs().max().item() < 1e-4
    assert torch.equal(got16.argmax(1), want.argmax(1))
    assert (got16 - want).abs().max().item() < 0.1  # fp16 rounding of the weights only


def test_symmetric_padding_would_not_match_the_reference(shared_dir, sample_images_dir, reference):
    """The test above can fail: the same weights with PyTorch's symmetric padding differ clearly."""
    import torch.nn.functional as F

    from visioncircuits.zoo.tf_same import SameConv2d

    f32 = shared_dir / "weights" / FLOAT32["mobilenet-v2"]
    model = load_model("mobilenet-v2", weights=f32)
    ref = reference.load_model(str(f32))
    paths = list_images(sample_images_dir)[:4]
    _, images = next(ImageFolder(sample_images_dir, 224, paths=paths).batches(4))

    def symmetric(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.kernel_size[0] // 2, self.dilation, self.groups)

    with pytest.MonkeyPatch.context() as mp, torch.inference_mode():
        mp.setattr(SameConv2d, "forward", symmetric)
        sym = model(images)
    with torch.inference_mode():
        want = ref(images * 2 - 1)[:, 1:]
    assert (sym - want).abs().max().item() > 0.5


@pytest.mark.slow
def test_shipped_models_classify_the_1000_photos(sample_images_dir, empty_hub):
    """Top-1 through load_model (fp16 from models/, offline) and the package's own image
    loading; the 192 model reads the photos at its spec.input_size (bilinear 224 -> 192)."""
    photos = list_images(sample_images_dir)
    assert len(photos) == 1000 and photo_labels(photos) == list(range(1000))
    for name, minimum in MIN_TOP1.items():
        model = load_model(name).to(memory_format=torch.channels_last)  # ~1.6x faster depthwise convs on CPU
        with torch_threads(2):
            acc = evaluate_photos(model, sample_images_dir, batch_size=100)
        assert acc.n == 1000
        assert acc.top1 >= minimum, f"{name}: top-1 {acc.top1:.3f} < {minimum}"
        assert acc.top5 >= acc.top1 + 0.05
