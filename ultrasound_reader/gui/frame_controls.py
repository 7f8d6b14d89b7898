"""The strip under the image: transport buttons, frame slider, frame number and time, speed, loop.

It holds no playback logic: it shows the state it is given and emits what the user
asked for. The main window's actions (with their shortcuts) drive the buttons, so
the keyboard and the mouse do exactly the same thing.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QToolButton, QVBoxLayout, QWidget

from ultrasound_reader.gui.playback import SPEEDS, time_label


COMPACT_WIDTH = 640  # narrower: the fps label is hidden


class FrameControls(QWidget):
    frameRequested = Signal(int)
    speedChanged = Signal(float)

    def __init__(self, actions: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("frameControls")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        layout.setSpacing(4)
        self.buttons: dict[str, QToolButton] = {}
        for key in ("first", "step_back", "play", "step_forward", "last"):
            button = QToolButton(self)
            button.setDefaultAction(actions[key])
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setAutoRaise(True)
            self.buttons[key] = button
            layout.addWidget(button)

        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("frameSlider")
        self.slider.setRange(0, 0)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows belong to the window's actions
        self.slider.valueChanged.connect(self._on_slider)
        # A column so that strips aligned with the slider (frames carrying ROIs) can sit under it.
        self.slider_column = QVBoxLayout()
        self.slider_column.setContentsMargins(0, 0, 0, 0)
        self.slider_column.setSpacing(1)
        self.slider_column.addWidget(self.slider)
        layout.addLayout(self.slider_column, 1)

        self.label = QLabel("", self)
        self.label.setObjectName("frameLabel")
        self.label.setMinimumWidth(150)
        layout.addWidget(self.label)

        self.speed = QComboBox(self)
        self.speed.setObjectName("speed")
        self.speed.setToolTip("Playback speed (relative to the file's frame rate)")
        self.speed.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.currentIndexChanged.connect(lambda i: self.speedChanged.emit(float(self.speed.itemData(i))))
        layout.addWidget(self.speed)

        loop = QToolButton(self)
        loop.setDefaultAction(actions["loop"])
        loop.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.buttons["loop"] = loop
        layout.addWidget(loop)

        self.fps_label = QLabel("", self)
        self.fps_label.setObjectName("fpsLabel")
        self.fps_label.setToolTip("Frame rate from the file (FrameTime, CineRate, …)")
        layout.addWidget(self.fps_label)

        self._n_frames = 0
        self._fps: float | None = None
        self._updating = False
        self.set_cine(0, None)

    def set_cine(self, n_frames: int, fps: float | None, fps_note: str = "") -> None:
        self._n_frames = n_frames
        self._fps = fps
        self._updating = True
        self.slider.setRange(0, max(0, n_frames - 1))
        self.slider.setValue(0)
        self._updating = False
        self.slider.setEnabled(n_frames > 1)
        self.speed.setEnabled(n_frames > 1)
        if n_frames == 0:
            self.fps_label.setText("")
        elif n_frames == 1:
            self.fps_label.setText("still image")
        elif fps:
            self.fps_label.setText(f"{fps:.1f} fps")
        else:
            self.fps_label.setText(fps_note or "no frame rate")
        self.set_frame(0)

    def set_frame(self, index: int) -> None:
        if self.slider.value() != index:
            self._updating = True
            self.slider.setValue(index)
            self._updating = False
        self.label.setText(time_label(index, self._n_frames, self._fps) if self._n_frames else "No image")

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        """In a narrow window the file's rate (also in the image overlay) gives its room to the buttons."""
        super().resizeEvent(event)  # type: ignore[arg-type]
        self.fps_label.setVisible(self.width() >= COMPACT_WIDTH)

    def set_speed(self, speed: float) -> None:
        i = self.speed.findData(speed)
        if i < 0:
            i = self.speed.findData(1.0)
        self.speed.setCurrentIndex(i)

    def _on_slider(self, value: int) -> None:
        if not self._updating:
            self.frameRequested.emit(value)
