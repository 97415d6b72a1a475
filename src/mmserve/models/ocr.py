"""OCR: `rapidocr`, PaddleOCR's PP-OCR detector, angle classifier and recogniser as ONNX.

The rapidocr package (Apache-2.0) ships its default models in the wheel, so this works
offline; only the default configuration is used (its other languages download models).
Output per image, in reading order (top to bottom, then left to right within a line):

    [{"text": "Region-based segmentation", "box": [[x, y] * 4], "confidence": 0.99}, ...]

Boxes are in the pixels of the image as sent (after EXIF rotation), clockwise from top-left.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from mmserve.models.base import OCR, Model
from mmserve.models.registry import register

if TYPE_CHECKING:
    from PIL.Image import Image

# One onnxruntime thread per session: the batcher runs one worker per core (see onnx_text.py).
ENGINE_PARAMS = {
    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    "Global.log_level": "warning",  # it logs every model file it opens at info
}
SAME_LINE = 0.5  # boxes whose vertical centres are within half a line height share a line


class RapidOCRModel(Model):
    """Printed-text OCR (PP-OCR det + cls + rec via rapidocr, ONNX)."""

    capabilities = frozenset({OCR})
    modality = "image"

    def __init__(self, model_id: str):
        super().__init__(model_id)
        # RapidOCR keeps per-call settings on the engine object, so each inference worker
        # thread gets its own engine (a few MB of models each) rather than sharing one.
        self._local = threading.local()

    def load(self) -> None:
        self._engine()

    def _engine(self) -> Any:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            from rapidocr import RapidOCR

            engine = self._local.engine = RapidOCR(params=ENGINE_PARAMS)
        return engine

    def preprocess(self, item: Image) -> np.ndarray:
        # rapidocr takes arrays as OpenCV does: (height, width, 3) uint8 in BGR order.
        return np.ascontiguousarray(np.asarray(item.convert("RGB"))[:, :, ::-1])

    def forward(self, batch: list[np.ndarray]) -> list[list[dict[str, Any]]]:
        # rapidocr has no batch API: its detector's boxes differ per image.
        return [self._read(image) for image in batch]

    def _read(self, image: np.ndarray) -> list[dict[str, Any]]:
        result = self._engine()(image)
        if result.boxes is None or result.txts is None:
            return []
        lines = [
            {
                "text": text,
                "box": [[round(float(x), 1), round(float(y), 1)] for x, y in box],
                "confidence": round(float(score), 4),
            }
            for box, text, score in zip(result.boxes, result.txts, result.scores, strict=True)
        ]
        return reading_order(lines)

    def warmup_inputs(self) -> list[Any]:
        from PIL import Image as PILImage
        from PIL import ImageDraw

        image = PILImage.new("RGB", (160, 40), (255, 255, 255))
        ImageDraw.Draw(image).text((10, 12), "warm up", fill=(0, 0, 0))
        return [image]

    def describe(self) -> dict[str, Any]:
        return {"languages": ["ch", "en"], "runtime": "onnxruntime"}


def reading_order(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort boxes top to bottom, and left to right among boxes on the same line."""

    def span(line: dict[str, Any]) -> tuple[float, float]:
        ys = [y for _, y in line["box"]]
        return min(ys), max(ys)

    rows: list[list[dict[str, Any]]] = []
    for line in sorted(lines, key=lambda item: span(item)[0]):
        top, bottom = span(line)
        centre, height = (top + bottom) / 2, max(bottom - top, 1.0)
        if rows:
            row_top, row_bottom = span(rows[-1][0])
            if abs(centre - (row_top + row_bottom) / 2) <= SAME_LINE * height:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda item: item["box"][0][0])]


@register("rapidocr")
def _rapidocr(model_id: str, argument: str) -> Model:
    """Printed-text OCR (PP-OCR via rapidocr, ONNX), boxes and confidences in reading order."""
    return RapidOCRModel(model_id)
