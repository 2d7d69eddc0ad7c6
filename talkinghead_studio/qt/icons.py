"""Small icons drawn in code, for commands the platform style has no picture for.

Drawn rather than shipped as files so that they follow the palette and need no
resource bundling in the frozen build.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap

SIZE = 32


def _canvas() -> tuple[QPixmap, QPainter]:
    pixmap = QPixmap(SIZE, SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    return pixmap, painter


def landmarks_icon(colour: QColor = QColor(40, 150, 90)) -> QIcon:
    """A face outline made of dots, with two eyes and a mouth."""
    pixmap, painter = _canvas()
    painter.setPen(QPen(colour, 3.2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    centre = QPointF(16, 16)
    for step in range(14):
        angle = 2 * math.pi * step / 14
        painter.drawPoint(centre + QPointF(11 * math.cos(angle), 13 * math.sin(angle)))
    for point in ((11.5, 13), (20.5, 13), (13, 21), (16, 22), (19, 21)):
        painter.drawPoint(QPointF(*point))
    painter.end()
    return QIcon(pixmap)


def webcam_icon(colour: QColor = QColor(70, 70, 80)) -> QIcon:
    """A round webcam on a little stand."""
    pixmap, painter = _canvas()
    painter.setPen(QPen(colour, 2.4))
    painter.drawEllipse(QRectF(7, 3, 18, 18))
    painter.setBrush(colour)
    painter.drawEllipse(QRectF(12.5, 8.5, 7, 7))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawLine(QPointF(16, 21), QPointF(16, 26))
    painter.drawLine(QPointF(9, 28), QPointF(23, 28))
    painter.end()
    return QIcon(pixmap)


def face_zoom_icon(colour: QColor = QColor(70, 70, 80)) -> QIcon:
    """A magnifier over a small face."""
    pixmap, painter = _canvas()
    painter.setPen(QPen(colour, 2.6))
    painter.drawEllipse(QRectF(4, 4, 18, 18))
    painter.drawLine(QPointF(19.5, 19.5), QPointF(28, 28))
    painter.setPen(QPen(QColor(40, 150, 90), 2.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    for point in ((10, 11), (16, 11)):
        painter.drawPoint(QPointF(*point))
    painter.drawArc(QRectF(9, 11, 8, 6), 200 * 16, 140 * 16)
    painter.end()
    return QIcon(pixmap)
