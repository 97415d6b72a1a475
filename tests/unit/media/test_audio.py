import re

import numpy as np
import pytest

from mmserve.errors import InvalidRequest, PayloadTooLarge
from mmserve.media import MediaPolicy, audio_seconds, decode_audio, iter_audio_chunks
from mmserve.media.audio import wav_declared_seconds
from tests.unit.media.makers import AUDIO_ENCODERS, audio_bytes, image_bytes, wav_claiming


def tone_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / len(samples))


@pytest.mark.parametrize("kind", sorted(AUDIO_ENCODERS))
def test_every_format_decodes_to_16khz_mono_float32(kind):
    samples = decode_audio(audio_bytes(kind, seconds=1.0))
    assert samples.dtype == np.float32 and samples.ndim == 1
    # Encoders add priming and padding (AAC ~50 ms), never whole seconds.
    assert 15_500 <= len(samples) <= 16_800
    assert tone_frequency(samples, 16_000) == pytest.approx(440, abs=3)
    rms = float(np.sqrt(np.mean(samples**2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), abs=0.03)  # the sine's half scale survives


def test_stereo_is_mixed_to_the_mean_of_its_channels():
    samples = decode_audio(audio_bytes("WAV", channels=2))
    assert np.abs(samples).max() == pytest.approx(0.5, abs=0.01)  # not 0.707


@pytest.mark.parametrize("rate", [8_000, 22_050, 48_000])
def test_resampled_to_the_rate_asked_for(rate):
    samples = decode_audio(audio_bytes("FLAC"), sample_rate=rate)
    assert len(samples) == pytest.approx(rate, rel=0.01)
    assert tone_frequency(samples, rate) == pytest.approx(440, abs=3)


def test_chunks_are_fixed_length_and_add_up():
    data = audio_bytes("WAV", seconds=2.5)
    chunks = list(iter_audio_chunks(data, chunk_seconds=1.0))
    assert [len(c) for c in chunks] == [16_000, 16_000, 8_000]
    assert np.array_equal(np.concatenate(chunks), decode_audio(data))


def test_chunks_check_the_header_before_the_first_chunk():
    policy = MediaPolicy(max_audio_seconds=1.0)
    with pytest.raises(PayloadTooLarge):
        iter_audio_chunks(audio_bytes("FLAC", seconds=3), policy=policy)  # no next() needed


def test_header_duration_is_read_without_decoding():
    assert audio_seconds(audio_bytes("FLAC", seconds=2.0)) == pytest.approx(2.0, abs=0.01)


@pytest.mark.parametrize("kind", ["WAV", "FLAC", "MP3", "MP4"])
def test_too_long_by_header_is_a_413(kind):
    policy = MediaPolicy(max_audio_seconds=1.0)
    with pytest.raises(PayloadTooLarge) as caught:
        decode_audio(audio_bytes(kind, seconds=3.0), policy=policy, field="file")
    error = caught.value
    assert error.status == 413 and error.param == "file"
    assert re.search(r"is 3(\.\d+)? s long; the limit is 1 s\. Send a shorter", error.message)


def test_wav_header_is_believed_up_to_the_bytes_that_came():
    # espeak-ng --stdout and sox write a placeholder size of ~13.5 hours when writing to a
    # pipe: the half second that came is what counts, and it decodes.
    data = wav_claiming(claimed_seconds=10 * 3600, real_seconds=0.5)
    assert wav_declared_seconds(data) == pytest.approx(0.5)
    assert len(decode_audio(data)) == 8_000


def test_long_wav_is_refused_from_its_header_before_decoding():
    data = wav_claiming(claimed_seconds=4000, real_seconds=4000, rate=1_000)
    assert wav_declared_seconds(data) == pytest.approx(4000)
    with pytest.raises(
        PayloadTooLarge, match=r"is 1:06:40 \(4000 s\) long; the limit is 1:00:00 \(3600 s\)"
    ):
        decode_audio(data)


def test_streaming_wav_without_a_size_is_still_measured():
    # FFmpeg measures the data when the header says "size unknown".
    data = wav_claiming(claimed_seconds=None, real_seconds=3.0)
    assert wav_declared_seconds(data) is None
    with pytest.raises(PayloadTooLarge, match="is 3 s long; the limit is 0.5 s"):
        decode_audio(data, policy=MediaPolicy(max_audio_seconds=0.5))


def test_without_a_header_duration_decoding_stops_once_past_the_limit():
    # A live WebM (what browsers record) declares no duration: decoding is bounded instead,
    # and raises as soon as the limit plus DECODE_SLACK_S is passed.
    data = audio_bytes("WEBM", seconds=4.0, live="1")
    assert audio_seconds(data) is None
    chunks = iter_audio_chunks(data, policy=MediaPolicy(max_audio_seconds=1.0), chunk_seconds=0.5)
    seen = []
    with pytest.raises(PayloadTooLarge, match="runs past the limit; the limit is 1 s"):
        for chunk in chunks:
            seen.append(len(chunk))
    assert 3 <= len(seen) <= 4  # 1.5 s to 2 s of samples, never the whole 4 s
    assert len(decode_audio(data)) == pytest.approx(64_000, abs=500)  # within the default


def test_byte_limit_is_checked_first():
    with pytest.raises(PayloadTooLarge, match="the limit is 1,024 bytes"):
        decode_audio(audio_bytes("WAV"), policy=MediaPolicy(max_audio_bytes=1024))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (image_bytes("PNG"), "a PNG image is not supported audio"),
        (b"hello, I am a text file called speech.mp3", "text is not supported audio"),
        (b"", "empty data is not supported audio"),
    ],
)
def test_other_formats_are_refused_naming_what_is_accepted(data, words):
    with pytest.raises(InvalidRequest) as caught:
        decode_audio(data, field="input[1]")
    error = caught.value
    assert error.code == "unsupported_format" and error.param == "input[1]"
    assert words in error.message
    assert "WAV, FLAC, OGG (Vorbis, Opus), MP3, M4A/MP4 (AAC)" in error.message


@pytest.mark.parametrize("kind", sorted(AUDIO_ENCODERS))
def test_a_header_alone_is_a_400(kind):
    with pytest.raises(InvalidRequest) as caught:
        decode_audio(audio_bytes(kind)[:64])
    assert caught.value.status == 400
    assert caught.value.code in ("invalid_audio", "unsupported_format")


@pytest.mark.parametrize("kind", sorted(AUDIO_ENCODERS))
def test_corrupt_audio_is_a_400_or_decodes(kind):
    # FFmpeg conceals some damage (a burst of noise in PCM); what it cannot conceal must be
    # a 400, never a 500.
    data = bytearray(audio_bytes(kind))
    noise = np.random.default_rng(0).integers(0, 256, len(data) - 400, dtype=np.uint8)
    data[200:-200] = noise.tobytes()
    try:
        samples = decode_audio(bytes(data))
    except InvalidRequest as e:
        assert e.code in ("invalid_audio", "unsupported_format")
    else:
        assert samples.dtype == np.float32


@pytest.mark.parametrize("kind", sorted(AUDIO_ENCODERS))
def test_truncated_audio_is_a_400_or_its_first_part(kind):
    data = audio_bytes(kind, seconds=2.0)
    try:
        samples = decode_audio(data[: len(data) // 2])
    except InvalidRequest as e:
        assert "corrupt or truncated" in e.message
    else:
        assert 0 < len(samples) <= 32_000


@pytest.mark.parametrize("kind", sorted(AUDIO_ENCODERS))
def test_random_damage_is_audio_or_a_400(kind):
    rng = np.random.default_rng(7)
    seed = audio_bytes(kind, seconds=0.3)
    for _ in range(25):
        data = bytearray(seed)
        for position in rng.integers(0, len(data), rng.integers(1, 20)):
            data[position] = rng.integers(0, 256)
        if rng.random() < 0.3:
            data = data[: rng.integers(1, len(data))]
        try:
            assert decode_audio(bytes(data)).dtype == np.float32
        except (InvalidRequest, PayloadTooLarge):
            pass
