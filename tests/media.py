"""Test media made on the fly: real WebM (VP8 + Opus) files, as a browser's MediaRecorder writes them."""

from __future__ import annotations

import io
from fractions import Fraction
from functools import cache

import av
import numpy as np


@cache
def make_webm(
    seconds: float = 3.0,
    fps: int = 15,
    width: int = 320,
    height: int = 240,
    audio: bool = True,
    *,
    audio_gap: tuple[float, float] | None = None,
) -> bytes:
    """A small WebM with a moving gradient and, optionally, a 440 Hz tone (missing between the seconds
    of ``audio_gap``, as where a chunk was lost). Made once per set of arguments in a test process:
    libvpx takes about half a CPU second per second of video."""
    buffer = io.BytesIO()
    container = av.open(buffer, "w", format="webm")
    video = container.add_stream("libvpx", rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.bit_rate = 300_000
    frames = int(seconds * fps)
    if audio:
        sound = container.add_stream("libopus", rate=48_000)
        sound.layout = "mono"
    x = np.linspace(0, 255, width, dtype=np.float32)
    for index in range(frames):
        row = ((x + index * 8) % 256).astype(np.uint8)
        image = np.repeat(np.stack([row, row[::-1], np.full_like(row, 128)], axis=-1)[None, :, :], height, axis=0)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = index, Fraction(1, fps)
        container.mux(video.encode(frame))
    container.mux(video.encode())
    if audio:
        samples_per_frame = 960
        total = int(seconds * 48_000)
        t = np.arange(total) / 48_000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, total - samples_per_frame + 1, samples_per_frame):
            if audio_gap is not None and audio_gap[0] * 48_000 <= start < audio_gap[1] * 48_000:
                continue
            frame = av.AudioFrame.from_ndarray(
                tone[None, start : start + samples_per_frame], format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts = 48_000, start
            container.mux(sound.encode(frame))
        container.mux(sound.encode())
    container.close()
    return buffer.getvalue()


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    """Cut bytes into chunks at arbitrary points, the way MediaRecorder's timeslices fall mid-cluster."""
    chunks, position, index = [], 0, 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        chunks.append(data[position : position + size])
        position += size
        index += 1
    return chunks


def decoded_video_seconds(data: bytes) -> tuple[int, float]:
    """Frames decoded and the time span they cover (MediaRecorder files carry no duration)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * stream.time_base) for frame in container.decode(stream) if frame.pts is not None]
    return len(times), (max(times) - min(times)) if times else 0.0


def write_y4m(
    path: str, image_path: str, *, seconds: float = 2.0, fps: int = 15, width: int = 640, height: int = 480
) -> None:
    """A Y4M video of a still photo with a little movement, for Chromium's fake webcam."""
    import cv2
    from PIL import Image

    photo = np.asarray(Image.open(image_path).convert("RGB"))
    scale = max(width / photo.shape[1], height / photo.shape[0])
    resized = cv2.resize(photo, (int(photo.shape[1] * scale) + 8, int(photo.shape[0] * scale) + 8))
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(int(seconds * fps)):
            dx = int(4 + 4 * np.sin(index / fps * 2 * np.pi))
            frame = np.ascontiguousarray(resized[4 : 4 + height, dx : dx + width])
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())


def write_wav(path: str, *, seconds: float = 2.0, rate: int = 48_000) -> None:
    """A quiet tone, for Chromium's fake microphone."""
    import wave

    t = np.arange(int(seconds * rate)) / rate
    samples = (0.1 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
