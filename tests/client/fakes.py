"""Stand-ins for caption, OCR and speech weights whose outputs are computable by hand, and
an app that serves them with the fake text embedder (for the client's tests)."""

from __future__ import annotations

from mmserve.config import ModelConfig
from mmserve.models.base import CAPTION_IMAGE, OCR, TRANSCRIBE, Model, Waveform
from mmserve.models.registry import register


class SizeReader(Model):
    """Caption and OCR both state the image's size; OCR's one box is the whole image."""

    capabilities = frozenset({CAPTION_IMAGE, OCR})
    modality = "image"

    def load(self):
        pass

    def preprocess(self, item):
        return item.size

    def forward(self, batch):
        if "ocr" in self.id:
            return [
                [{"text": f"{w}x{h}", "box": [[0, 0], [w, 0], [w, h], [0, h]], "confidence": 0.9}]
                for w, h in batch
            ]
        return [f"an image {w} by {h}" for w, h in batch]

    def warmup_inputs(self):
        return []


class SecondsTranscriber(Model):
    """Two segments per clip, each saying which half of how many seconds it is."""

    capabilities = frozenset({TRANSCRIBE})
    modality = "audio"

    def load(self):
        pass

    def preprocess(self, item: Waveform):
        return item

    def forward(self, batch):
        out = []
        for w in batch:
            half = w.seconds / 2
            segments = [
                {"id": 0, "start": 0.0, "end": half, "text": f"first half of {w.seconds:.1f}"},
                {"id": 1, "start": half, "end": w.seconds, "text": "second half"},
            ]
            text = " ".join(s["text"] for s in segments)
            out.append({"text": text, "segments": segments, "duration": w.seconds})
        return out

    def warmup_inputs(self):
        return []


register("client-test-reader", "caption/OCR that state the image size (client tests)")(
    lambda model_id, argument: SizeReader(model_id)
)
register("client-test-transcriber", "two segments per clip (client tests)")(
    lambda model_id, argument: SecondsTranscriber(model_id)
)

MODELS = (
    ModelConfig(id="fake", max_wait_ms=1),
    ModelConfig(id="captioner", source="client-test-reader", max_wait_ms=1),
    ModelConfig(id="ocr", source="client-test-reader", max_wait_ms=1),
    ModelConfig(id="speech", source="client-test-transcriber", max_batch_size=1),
)
