"""YAMNet: the numpy frontend against torch's STFT, and the real model on real sounds."""

from __future__ import annotations

import numpy as np
import pytest

from mmserve.media.audio import decode_audio
from mmserve.models import yamnet
from mmserve.models.base import Waveform
from tests.audio_models import loaded, speech_wav, tone, white_noise


def test_frontend_matches_torch_stft_and_the_mel_filters():
    torch = pytest.importorskip("torch")
    samples = np.random.default_rng(1).normal(0, 0.1, yamnet.SAMPLE_RATE).astype(np.float32)
    window = torch.hann_window(yamnet.WINDOW)  # periodic, padded to N_FFT by torch.stft
    spec = torch.stft(
        torch.from_numpy(samples),
        n_fft=yamnet.N_FFT,
        hop_length=yamnet.HOP,
        win_length=yamnet.WINDOW,
        window=window,
        center=False,
        return_complex=True,
    ).abs()  # (bins, frames)
    expected = np.log(spec.T.numpy() @ yamnet.mel_filterbank() + yamnet.LOG_OFFSET)
    np.testing.assert_allclose(yamnet.log_mel(samples), expected, atol=1e-3)


def test_mel_filters_are_triangles_covering_125_to_7500_hz():
    bank = yamnet.mel_filterbank()  # (257, 64)
    assert bank.shape == (yamnet.N_FFT // 2 + 1, yamnet.N_MELS)
    hz_per_bin = yamnet.SAMPLE_RATE / yamnet.N_FFT
    used = np.flatnonzero(bank.sum(axis=1) > 0)
    assert used[0] * hz_per_bin >= yamnet.MEL_MIN_HZ
    assert used[-1] * hz_per_bin <= yamnet.MEL_MAX_HZ
    assert bank.max() <= 1.0 and (bank.max(axis=0) > 0.3).all()  # every band sees a bin


@pytest.mark.parametrize(
    ("seconds", "patches"),
    # STFT frames = 1 + (samples - 512) // 160 (no centre padding); patches =
    # 1 + (frames - 96) // 48, at least 1: 1.44 s is 142 frames, one patch; 1.5 s is 147, two
    [(0.2, 1), (0.96, 1), (1.44, 1), (1.5, 2), (10.0, 19)],
)
def test_patch_count_follows_the_048_s_hop(seconds, patches):
    samples = np.zeros(round(seconds * yamnet.SAMPLE_RATE), dtype=np.float32)
    out = yamnet.patches(samples)
    assert out.shape == (patches, yamnet.PATCH_FRAMES, yamnet.N_MELS)
    assert out.dtype == np.float32


def _clip_labels(samples: np.ndarray, top: int = 3) -> list[str]:
    model = loaded("yamnet")
    probs = model.postprocess(model.forward([model.preprocess(Waveform(samples))])[0])
    assert probs.shape[1] == len(model.class_names) == yamnet.CLASSES
    assert 0 <= probs.min() and probs.max() <= 1
    mean = probs.mean(axis=0)
    return [model.class_names[i] for i in np.argsort(-mean)[:top]]


@pytest.mark.real_weights
def test_speech_is_speech():
    samples = decode_audio(speech_wav("The quick brown fox jumps over the lazy dog."))
    assert _clip_labels(samples, 1) == ["Speech"]


@pytest.mark.real_weights
def test_a_1khz_tone_is_a_beep_or_sine_wave():
    assert {"Beep, bleep", "Sine wave"} & set(_clip_labels(tone(), 2))


@pytest.mark.real_weights
def test_white_noise_is_white_noise():
    assert "White noise" in _clip_labels(white_noise())


@pytest.mark.real_weights
def test_features_are_1024_d_per_clip_and_tell_sounds_apart():
    model = loaded("yamnet")
    speech = decode_audio(speech_wav("Please call me tomorrow morning."))
    clips = [Waveform(speech), Waveform(tone()), Waveform(tone(freq=990.0)), Waveform(speech)]
    features = model.features(clips)
    assert features.shape == (4, yamnet.EMBEDDING_DIM) and features.dtype == np.float32
    np.testing.assert_array_equal(features[0], features[3])  # deterministic
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    assert unit[1] @ unit[2] > unit[0] @ unit[1] + 0.1  # two tones closer than tone and speech


@pytest.mark.real_weights
def test_frame_rows_follow_frame_seconds():
    model = loaded("yamnet")
    probs = model.postprocess(model.forward([model.preprocess(Waveform(tone(5.0)))])[0])
    frames = 1 + (5 * yamnet.SAMPLE_RATE - yamnet.N_FFT) // yamnet.HOP  # 497
    assert len(probs) == 1 + (frames - yamnet.PATCH_FRAMES) // yamnet.PATCH_HOP_FRAMES  # 9
    assert model.frame_seconds == 0.48 and model.window_seconds == 0.96
