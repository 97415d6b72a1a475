"""Finding and blurring faces: the "faces" kind of `deidentify` (services/deidentify.py).

The detectors are MediaPipe's BlazeFace graphs (the legacy `mp.solutions` ones, whose tflite
weights ship inside the mediapipe 0.10.14 wheel: nothing is downloaded). Both run on every
image, the short-range model (faces large in the frame, within ~2 m of the camera) and the
full-range one (small faces, up to ~5 m), and a face either finds is blurred: a missed face
is a leak, an extra blurred patch is not. Both look at the whole picture scaled down to
128 or 192 px, so a face under ~2% of the image's side (a crowd) may be missed.

mediapipe is installed with --no-deps (Makefile `install-test`, docs/security.md): its
metadata pins protobuf<5 and pulls jax, while onnx and grpc here need protobuf>=6. Its graphs
run on the newer protobuf; only its Python getter for a list of detections calls an API that
protobuf 5 removed (SymbolDatabase.GetPrototype), so detections are parsed here from their
serialized bytes instead. Importing it prints one "AttributeError: 'MessageFactory' object has
no attribute 'GetPrototype'" line on stderr (its C++ bindings probing that API); harmless.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from mmserve.errors import ModelNotReady

if TYPE_CHECKING:
    from PIL.Image import Image

MIN_CONFIDENCE = 0.5  # MediaPipe's own default
MARGIN = 0.25  # the box grows by this fraction of its side each way: hair, ears, chin
BLUR_FRACTION = 0.15  # Gaussian radius as a fraction of the box's side: no feature survives
INSTALL = (
    "pip install 'mmserve[faces]' && pip install --no-deps mediapipe==0.10.14 "
    "(see docs/security.md)"
)


@dataclass(frozen=True)
class Box:
    """A face's box in pixels, margin included, clipped to the image."""

    left: int
    top: int
    right: int
    bottom: int


class FaceDetector:
    """Both BlazeFace graphs; one image at a time (a MediaPipe graph is not re-entrant)."""

    def __init__(self) -> None:
        from mediapipe.framework.formats.detection_pb2 import Detection
        from mediapipe.python._framework_bindings import _packet_getter
        from mediapipe.python.solution_base import PacketDataType
        from mediapipe.python.solutions.face_detection import FaceDetection

        class _Graph(FaceDetection):
            def _get_packet_content(self, kind: Any, packet: Any) -> Any:
                if kind is PacketDataType.PROTO_LIST and not packet.is_empty():
                    serialized = _packet_getter._get_serialized_proto_list(packet)
                    return [Detection.FromString(b) for b in serialized]
                return super()._get_packet_content(kind, packet)

        self._graphs = [
            _Graph(model_selection=selection, min_detection_confidence=MIN_CONFIDENCE)
            for selection in (0, 1)  # short range, full range
        ]
        self._lock = threading.Lock()

    def find(self, image: Image) -> list[Box]:
        """Boxes of the faces in an RGB image, from either model."""
        pixels = np.ascontiguousarray(np.asarray(image.convert("RGB")))  # (height, width, 3)
        with self._lock:
            results = [graph.process(pixels) for graph in self._graphs]
        boxes = []
        for result in results:
            for detection in result.detections or ():
                box = detection.location_data.relative_bounding_box
                boxes.append(
                    _pixels(box.xmin, box.ymin, box.width, box.height, image.width, image.height)
                )
        return boxes


def _pixels(x: float, y: float, w: float, h: float, width: int, height: int) -> Box:
    """A relative box grown by MARGIN, in pixels, inside the image."""
    grow_x, grow_y = w * MARGIN, h * MARGIN
    return Box(
        left=max(0, int((x - grow_x) * width)),
        top=max(0, int((y - grow_y) * height)),
        right=min(width, int(np.ceil((x + w + grow_x) * width))),
        bottom=min(height, int(np.ceil((y + h + grow_y) * height))),
    )


@cache
def face_detector() -> FaceDetector:
    """The one detector of the process, loaded on first use; 503 naming what to install."""
    try:
        return FaceDetector()
    except ImportError as e:
        raise ModelNotReady(
            f"deidentify 'faces' needs the face detector, which is not installed here: {INSTALL}",
            param="deidentify",
        ) from e


def blur_faces(image: Image) -> tuple[Image, int]:
    """A copy of the image with every face found blurred, and how many; with no face, the
    image itself, untouched."""
    from PIL import ImageFilter

    boxes = face_detector().find(image)
    if not boxes:
        return image, 0
    out = image.copy()
    for box in boxes:
        region = (box.left, box.top, box.right, box.bottom)
        side = max(box.right - box.left, box.bottom - box.top)
        radius = max(2.0, side * BLUR_FRACTION)
        out.paste(out.crop(region).filter(ImageFilter.GaussianBlur(radius)), region[:2])
    return out, _distinct(boxes)


def _distinct(boxes: list[Box]) -> int:
    """How many faces: the two models' boxes of one face overlap (IoU over 0.3)."""
    kept: list[Box] = []
    for box in boxes:
        if all(_iou(box, other) <= 0.3 for other in kept):
            kept.append(box)
    return len(kept)


def _iou(a: Box, b: Box) -> float:
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    inter = max(0, width) * max(0, height)
    union = _area(a) + _area(b) - inter
    return inter / union if union else 0.0


def _area(box: Box) -> int:
    return (box.right - box.left) * (box.bottom - box.top)
