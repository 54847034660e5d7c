"""A camera for the voice loop: OpenCV ``VideoCapture`` on a device index (``0`` is /dev/video0),
a video file, or a stream URL (rtsp://, http://). A thread keeps reading so that the frame a
question gets is the one in front of the camera now, not one stuck in the driver's buffer; a video
file is played at its own frame rate and holds its last frame when it ends."""

from __future__ import annotations

import importlib.util
import re
import threading
import time
from pathlib import Path

from ..errors import CameraError, MissingDependencyError

# Words that make a spoken request about what the camera sees ("what do you see", "who is at
# the door", "read this", "how many people are there"); other requests skip the vision stage.
SEEING = re.compile(r"\b(see|seeing|look|looking|looks|camera|show|showing|picture|photo|image|view|front of me|"
                    r"holding|hold|wearing|read|reading|colou?r|door|anyone|anybody|somebody|someone|"
                    r"how many|what is this|what's this|what is that|what's that|who is|who's)\b", re.IGNORECASE)
FAILED_READS = 50  # consecutive failed reads of a live camera before it counts as gone


def wants_to_see(text: str) -> bool:
    return SEEING.search(text) is not None


def _cv2():
    if importlib.util.find_spec("cv2") is None:
        raise MissingDependencyError("the camera needs OpenCV; install it with pip install 'assistant[vision]'")
    import cv2

    # OpenCV logs each backend it tries on stderr; the user gets one CameraError line instead
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    return cv2


class Camera:
    def __init__(self, source: str) -> None:
        cv2 = _cv2()
        self.source = source
        index = int(source) if source.isdigit() else None
        self.is_file = index is None and "://" not in source
        if self.is_file and not Path(source).is_file():
            raise CameraError(f"no video file {source}; pass a camera number (0 is /dev/video0), a video file or "
                              "a stream URL")
        self._capture = cv2.VideoCapture(index if index is not None else source)
        ok, frame = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok:
            self._capture.release()
            what = f"camera {index}" if index is not None else source
            hint = ("no camera at that number (ls /dev/video* lists them; a USB camera needs the uvcvideo driver)"
                    if index is not None else "OpenCV cannot read it")
            raise CameraError(f"cannot read a frame from {what}: {hint}")
        self.fps = self._capture.get(cv2.CAP_PROP_FPS) or 30.0
        self._cv2 = cv2
        self._lock = threading.Lock()
        self._frame, self._at = frame, time.monotonic()
        self.frames = 1
        self.ended = False  # a video file played to its end (its last frame stays)
        self.failed: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="camera", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        start, failures = time.monotonic(), 0
        while not self._stop.is_set():
            ok, frame = self._capture.read()
            if not ok:
                if self.is_file:
                    self.ended = True
                    return
                failures += 1
                if failures >= FAILED_READS:
                    self.failed = f"the camera {self.source} stopped delivering frames"
                    return
                time.sleep(0.02)
                continue
            failures = 0
            with self._lock:
                self._frame, self._at = frame, time.monotonic()
                self.frames += 1
                count = self.frames
            if self.is_file:  # play at the file's own pace
                delay = start + count / self.fps - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)

    def latest(self):
        """The newest frame as an RGB PIL image, and its age in seconds."""
        from PIL import Image

        with self._lock:
            frame, at = self._frame, self._at
        if self.failed and time.monotonic() - at > 2.0:
            raise CameraError(f"{self.failed}; check the cable, or restart with another --camera")
        rgb = self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB)
        return Image.fromarray(rgb), time.monotonic() - at

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._capture.release()


class SeeingBrain:
    """Wraps the voice loop's brain: a request about what the camera sees gets the latest frame,
    as an image when the brain takes images (a model with a vision projector; a server, which
    has its own vision stage), else described by this process's vision stage in front of the words
    (the conversation keeps only the words said)."""

    sees_images = False

    def __init__(self, brain, camera: Camera, stack, emit) -> None:
        self.brain, self.camera, self.stack, self.emit = brain, camera, stack, emit
        self.engine = getattr(brain, "engine", None)

    def reply(self, conversation, user_text: str, cancelled, images: tuple[bytes, ...] = ()):
        if not wants_to_see(user_text):
            return self.brain.reply(conversation, user_text, cancelled)
        from .images import encode_png

        start = time.perf_counter()
        image, age = self.camera.latest()
        saw = {"event": "saw", "frame_age_s": round(age, 3)}
        if getattr(self.brain, "sees_images", False):
            frame = encode_png(image)
            self.emit({**saw, "seen_by": "server" if self.engine is None else "model",
                       "latency_s": round(time.perf_counter() - start, 3)})
            return self.brain.reply(conversation, user_text, cancelled, images=(frame,))
        sentence = self.stack.report(image).sentence(subject="The camera's view")
        self.emit({**saw, "seen_by": "vision stage", "description": sentence,
                   "latency_s": round(time.perf_counter() - start, 3)})
        return self.brain.reply(conversation, f"{sentence}\n{user_text}", cancelled)
