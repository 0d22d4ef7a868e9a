"""Writes analysis/models/silero_vad.npz from Silero VAD's own ONNX file, and the reference the tests
hold analysis/voicemodel.py to (tests/analysis/data/silero_reference.npz): what onnxruntime gives for
a fixed piece of audio with the same file.

Invigil runs the model in numpy (analysis/voicemodel.py), so neither onnx nor onnxruntime is one of its
dependencies. This script needs both; run it in a throwaway environment:

    python3 -m venv /tmp/silero && /tmp/silero/bin/pip install onnx onnxruntime numpy  # and espeak-ng from Debian
    python3 -m pip download --no-deps silero-vad==6.2.3 -d /tmp/silero-wheel
    /tmp/silero/bin/python scripts/silero_weights.py /tmp/silero-wheel/silero_vad-6.2.3-py3-none-any.whl

The model is silero_vad_16k_op15.onnx of silero-vad 6.2.3 (MIT, analysis/models/silero_vad.LICENSE);
its SHA-256 is checked below, so a different file is refused rather than converted.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np

MODEL = "silero_vad/data/silero_vad_16k_op15.onnx"
MODEL_SHA256 = "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49"
ROOT = Path(__file__).resolve().parent.parent
#: The ONNX initialisers in file order, by the names analysis/voicemodel.py reads.
NAMES = (
    "stft",
    "conv1_weight",
    "conv1_bias",
    "conv2_weight",
    "conv2_bias",
    "conv3_weight",
    "conv3_bias",
    "conv4_weight",
    "conv4_bias",
    "lstm_weight_ih",
    "lstm_weight_hh",
    "lstm_bias_ih",
    "lstm_bias_hh",
    "out_weight",
    "out_bias",
)


def reference_audio() -> np.ndarray:
    """Six seconds the reference is computed on: a sentence from espeak-ng over noise that steps up in
    level, then digital silence. The audio is stored with the reference, so the test needs no espeak."""
    import io
    import subprocess
    import wave

    rate = 16_000
    sentence = "Please put your notes away before the exam begins."
    spoken = subprocess.run(  # noqa: S603
        ["espeak-ng", "--stdout", "-v", "en", sentence],  # noqa: S607 (Debian's espeak-ng, on the PATH)
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(spoken)) as sound:
        source_rate = sound.getframerate()
        samples = np.frombuffer(sound.readframes(sound.getnframes()), np.int16) / 32768
    times = np.arange(len(samples)) / source_rate
    voice = np.interp(np.arange(0, times[-1], 1 / rate), times, samples)
    rng = np.random.default_rng(2026)
    t = np.arange(6 * rate) / rate
    audio = rng.normal(0, 0.01, len(t)) * (1 + 3 * (t > 3))
    start = int(1.0 * rate)
    audio[start : start + len(voice)] += voice[: len(audio) - start]
    audio[int(5.2 * rate) :] = 0
    return audio.astype(np.float32)


def main(wheel: str) -> None:
    import onnx  # type: ignore[import-not-found]  # the throwaway environment's, not Invigil's
    import onnxruntime  # type: ignore[import-not-found]
    from onnx import numpy_helper

    data = zipfile.ZipFile(wheel).read(MODEL)
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise SystemExit(f"{MODEL} in {wheel} is not the file this script knows")
    model = onnx.load_from_string(data)
    arrays = [numpy_helper.to_array(tensor).astype(np.float32) for tensor in model.graph.initializer]
    if len(arrays) != len(NAMES):
        raise SystemExit(f"expected {len(NAMES)} initialisers, found {len(arrays)}")
    np.savez_compressed(ROOT / "analysis/models/silero_vad.npz", **dict(zip(NAMES, arrays, strict=True)))

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    audio = reference_audio()
    state = np.zeros((2, 1, 128), np.float32)
    context = np.zeros((1, 64), np.float32)
    probabilities = []
    for start in range(0, len(audio) - 511, 512):
        piece = np.concatenate([context, audio[None, start : start + 512]], axis=1)
        out, state = session.run(None, {"input": piece, "state": state, "sr": np.array(16_000, dtype=np.int64)})
        context = piece[:, -64:]
        probabilities.append(float(out[0, 0]))
    target = ROOT / "tests/analysis/data/silero_reference.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, audio=audio, probabilities=np.array(probabilities, np.float32))
    print(f"wrote the weights and {len(probabilities)} reference probabilities")


if __name__ == "__main__":
    main(sys.argv[1])
