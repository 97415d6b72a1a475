"""Small previews of indexed images, for the playground's search results.

The store keeps vectors and metadata, not media: an item's image is found again from the
folder an "index" job took it from (the job's `path` under the media root, plus the item's
`metadata.path`). Items added as base64 content have no file to preview. In a collection made with
deidentify "faces", the faces found in a thumbnail are blurred before it is sent (the
detector sees the thumbnail: it scales every picture down to 128-192 px anyway).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from mmserve.errors import InvalidRequest, NotFound
from mmserve.files import confined
from mmserve.media import MediaPolicy, decode_image
from mmserve.models.faces import blur_faces

MAX_SIDE = 256  # pixels: a thumbnail is never larger, whatever `size` asks
DEFAULT_SIDE = 128
JPEG_QUALITY = 80


def thumbnail_side(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_SIDE
    if not raw.isdigit() or not 16 <= int(raw) <= MAX_SIDE:
        raise InvalidRequest(f"size must be an integer from 16 to {MAX_SIDE}", param="size")
    return int(raw)


def source_file(store: Any, policy: MediaPolicy, collection: str, item_id: str) -> Path:
    """The image file an item was indexed from, inside the media root."""
    item = store.get_item(collection, item_id)
    relative = item.metadata.get("path") if item.modality == "image" else None
    root = policy.media_root
    if not isinstance(relative, str) or root is None:
        raise NotFound(
            f"item {item_id!r} has no image file to preview (only images indexed from a "
            "folder under the media root have one)",
            param="item_id",
        )
    for job in store.jobs.list(type="index", limit=1000):
        if job.params.get("collection") != collection:
            continue
        candidate = confined(Path(job.params.get("path", "")) / relative, [root])
        if candidate is not None and candidate.is_file():
            return candidate
    raise NotFound(f"the image file of item {item_id!r} is gone", param="item_id")


def make_thumbnail(path: Path, side: int, policy: MediaPolicy, *, faces: bool = False) -> bytes:
    """A JPEG no larger than side x side, aspect kept, faces blurred if asked; decoding is
    bounded by the policy."""
    image = decode_image(path.read_bytes(), policy=policy, field="item")
    image.thumbnail((side, side))
    if faces:
        image, _ = blur_faces(image)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
