"""Real media files made in memory for the tests: Pillow writes the images, PyAV encodes the
audio. Everything is small so the whole media suite runs in seconds."""

from __future__ import annotations

import io
import struct
import zlib

import av
import numpy as np
from PIL import Image

RED = (255, 0, 0)
BLUE = (0, 0, 255)

# Our format name -> (FFmpeg muxer, encoder, sample rate in Hz) for encoding test clips.
AUDIO_ENCODERS = {
    "WAV": ("wav", "pcm_s16le", 16_000),
    "FLAC": ("flac", "flac", 22_050),
    "OGG": ("ogg", "libopus", 48_000),
    "MP3": ("mp3", "libmp3lame", 44_100),
    "MP4": ("ipod", "aac", 44_100),  # .m4a
    "AAC": ("adts", "aac", 44_100),  # raw .aac
    "WEBM": ("webm", "libopus", 48_000),
}


def image_bytes(fmt: str, mode: str = "RGB", size=(32, 24), color=RED, **save) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


def halves_jpeg(orientation: int) -> bytes:
    """40x20, left half red, right half blue, with an EXIF orientation tag."""
    image = Image.new("RGB", (40, 20), RED)
    image.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def two_frame_gif() -> bytes:
    """A palette GIF: a red frame, then a blue one."""
    frames = [Image.new("RGB", (16, 16), c).convert("P") for c in (RED, BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def sixteen_bit_png(value: int) -> bytes:
    """A 16-bit greyscale PNG, every pixel `value` (0-65535)."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, dtype=np.uint16)).save(buffer, "PNG")
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height greyscale pixels, with almost no data:
    the shape of a decompression bomb, without the bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1)))
        + chunk(b"IEND", b"")
    )


def sine(seconds: float, rate: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.tile(wave, (channels, 1))  # (channels, samples)


def audio_bytes(kind: str, seconds: float = 1.0, channels: int = 1, **muxer_options) -> bytes:
    """A 440 Hz sine at half scale, encoded in the container `kind` (a key of AUDIO_ENCODERS).
    WebM with live="1" is written as browsers' MediaRecorder writes it: no duration."""
    muxer, encoder, rate = AUDIO_ENCODERS[kind]
    layout = "stereo" if channels == 2 else "mono"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=muxer, options=muxer_options) as out:
        stream = out.add_stream(encoder, rate=rate, layout=layout)
        stream.bit_rate = 128_000  # FFmpeg's AAC encoder distorts a pure tone below that
        frame = av.AudioFrame.from_ndarray(
            sine(seconds, rate, channels), format="fltp", layout=layout
        )
        frame.rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


def wav_claiming(claimed_seconds: float | None, real_seconds: float, rate: int = 16_000) -> bytes:
    """A 16-bit mono WAV whose header declares `claimed_seconds` but holds `real_seconds`;
    None writes 0xFFFFFFFF, the "size unknown" of streaming writers."""
    samples = (sine(real_seconds, rate)[0] * 32767).astype("<i2").tobytes()
    declared = 0xFFFF_FFFF if claimed_seconds is None else round(claimed_seconds * rate) * 2
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", min(36 + declared, 0xFFFF_FFFF))
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", declared)
        + samples
    )


def declaring(fmt: str, width: int, height: int) -> bytes:
    """A small `fmt` image whose header is patched to declare width x height pixels."""
    data = bytearray(image_bytes(fmt, size=(4, 4)))
    if fmt == "JPEG":
        at = data.find(b"\xff\xc0") + 5  # SOF0: length (2), precision (1), then height, width
        data[at : at + 4] = struct.pack(">HH", height, width)
    elif fmt == "GIF":
        data[6:10] = struct.pack("<HH", width, height)  # the logical screen
    elif fmt == "BMP":
        data[18:26] = struct.pack("<ii", width, height)
    elif fmt == "TIFF":  # little-endian, as Pillow writes it: patch tags 256 and 257 (LONG)
        ifd = struct.unpack("<I", data[4:8])[0]
        for entry in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
            at = ifd + 2 + 12 * entry
            tag = struct.unpack("<H", data[at : at + 2])[0]
            if tag in (256, 257):
                data[at + 2 : at + 12] = struct.pack("<HII", 4, 1, width if tag == 256 else height)
    elif fmt == "PNG":
        return png_declaring(width, height)
    return bytes(data)
