"""Recognise media formats from their first bytes (magic numbers), never from a name or a
claimed content type, which clients get wrong and attackers choose.

Pure functions over bytes: no decoder is imported here, so a format can be refused, with a
message saying what the data is, before any decoder sees it.
"""

from __future__ import annotations

# Image formats accepted, by Pillow's format name; values are what messages call them.
IMAGE_FORMATS = {
    "JPEG": "JPEG",
    "PNG": "PNG",
    "WEBP": "WebP",
    "GIF": "GIF",
    "BMP": "BMP",
    "TIFF": "TIFF",
}
# Audio formats accepted, by our name; values are what messages call them.
AUDIO_FORMATS = {
    "WAV": "WAV",
    "FLAC": "FLAC",
    "OGG": "OGG (Vorbis, Opus)",
    "MP3": "MP3",
    "MP4": "M4A/MP4 (AAC)",
    "AAC": "AAC (ADTS)",
    "WEBM": "WebM/Matroska",
}

_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),  # little-endian
    (b"MM\x00*", "TIFF"),  # big-endian
)
_RIFF_TAGS = (b"RIFF", b"RF64", b"BW64")  # RF64 / BW64: WAV files over 4 GiB
# ISO-BMFF brands (bytes 8-12 of an ftyp box) of still images; any other brand is taken as
# MP4 audio and the demuxer decides.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis"}
_EBML = b"\x1a\x45\xdf\xa3"  # Matroska and WebM
ID3_HEADER_BYTES = 10  # "ID3", version (2), flags (1), size (4, 7 bits each)


def sniff_image(data: bytes) -> str | None:
    """Pillow's name for the image format of `data` ("JPEG", "PNG"...), or None."""
    head = bytes(data[:12])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in _IMAGE_MAGIC if head.startswith(magic)), None)


def sniff_audio(data: bytes) -> str | None:
    """Our name for the audio container of `data` (a key of AUDIO_FORMATS), or None."""
    head = bytes(data[:12])
    if head[:4] in _RIFF_TAGS and head[8:12] == b"WAVE":
        return "WAV"
    if head.startswith(b"ID3"):
        # An ID3 tag may precede MP3, AAC or FLAC data: look at what follows it (once, so a
        # chain of empty tags cannot recurse).
        after = ID3_HEADER_BYTES + _syncsafe(head[6:10])
        rest = bytes(data[after : after + 12])
        return "MP3" if rest.startswith(b"ID3") else sniff_audio(rest) or "MP3"
    if head.startswith(b"fLaC"):
        return "FLAC"
    if head.startswith(b"OggS"):
        return "OGG"
    if head.startswith(_EBML):
        return "WEBM"
    if head[4:8] == b"ftyp" and head[8:12] not in _IMAGE_BRANDS:
        return "MP4"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # 12-bit sync, layer 00: ADTS
            return "AAC"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06:  # 11-bit sync, layer I-III
            return "MP3"
    return None


def describe(data: bytes) -> str:
    """A few words on what `data` is, for messages that refuse it ("a PNG image")."""
    if not data:
        return "empty data"
    if image := sniff_image(data):
        return f"a {IMAGE_FORMATS[image]} image"
    if audio := sniff_audio(data):
        return f"{AUDIO_FORMATS[audio]} audio"
    head = bytes(data[:512])
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return f"a {head[8:12].decode().upper()} image"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.lstrip().startswith((b"<svg", b"<?xml")):
        return "an SVG/XML document"
    # Binary formats hold a NUL byte within their first few hundred bytes; text does not.
    return "data of an unknown format" if b"\x00" in head else "text"


def clip(text: str, limit: int = 80) -> str:
    """`text` quoted for a message, cut short: a client may send megabytes where a path goes."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text):,} chars)"


def _syncsafe(four: bytes) -> int:
    """ID3's sizes: 4 bytes holding 7 bits each, so they never look like an MP3 frame sync."""
    value = 0
    for byte in four:
        value = value << 7 | byte & 0x7F
    return value
