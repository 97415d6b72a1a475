"""Decode and validate images and audio, and resolve the forms a client sends them in.

Pure code: no Flask, no model. Every rejection is a ClientError from mmserve.errors whose
`param` is the field the caller named. Pillow and PyAV are imported on first use, so this
package imports without them. A server-side path a client names is kept inside the media
root by mmserve.files.confined. metering.py is where decoders (and the layers above)
report what they processed, for usage and quotas.

May import only the leaf modules errors and files (the bottom layer).
"""

from mmserve.media.audio import (
    CHUNK_SECONDS,
    SAMPLE_RATE,
    audio_seconds,
    decode_audio,
    iter_audio_chunks,
)
from mmserve.media.fetch import fetch_url
from mmserve.media.formats import AUDIO_FORMATS, IMAGE_FORMATS, describe, sniff_audio, sniff_image
from mmserve.media.images import decode_image, to_rgb
from mmserve.media.policy import MediaPolicy
from mmserve.media.sources import (
    decode_base64,
    decode_data_uri,
    load_audio,
    load_audio_chunks,
    load_image,
    media_bytes,
    read_media_file,
)

__all__ = [
    "AUDIO_FORMATS",
    "CHUNK_SECONDS",
    "IMAGE_FORMATS",
    "SAMPLE_RATE",
    "MediaPolicy",
    "audio_seconds",
    "decode_audio",
    "decode_base64",
    "decode_data_uri",
    "decode_image",
    "describe",
    "fetch_url",
    "iter_audio_chunks",
    "load_audio",
    "load_audio_chunks",
    "load_image",
    "media_bytes",
    "read_media_file",
    "sniff_audio",
    "sniff_image",
    "to_rgb",
]
