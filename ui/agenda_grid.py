"""Painted agenda views: the time grid (day/week, one column per day and practitioner) and the month grid.

Painted rather than built from widgets: a week of five practitioners with hundreds of appointments stays one
widget, laid out once per data change and painted from that layout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from domain.agenda import (
    PARIS,
    WEEKDAY_NAMES_FR,
    Absence,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    PlaceKind,
    WorkingPeriod,
    to_local,
)

SNAP_MINUTES = 5
KEY_STEP_MINUTES = 15
RESIZE_GRIP_PX = 6
GUTTER_PX = 52
HEADER_PX = 40
MIN_COLUMN_PX = 46
MIN_SHARED_COLUMN_PX = 80
DEFAULT_COLOUR = "#7d7d7d"


@dataclass(frozen=True, slots=True)
class GridColumn:
    """One column of the time grid: a day of one practitioner."""

    day: dt.date
    practitioner_id: int
    practitioner_label: str


@dataclass(frozen=True, slots=True)
class _Render:
    first: str
    second: str
    fill: QColor
    bar: QColor
    inactive: bool


@dataclass(frozen=True, slots=True)
class _Block:
    appointment: Appointment
    column: int
    rect: QRectF
    clipped_top: bool
    clipped_bottom: bool


_Piece = tuple[dt.datetime, dt.datetime, Appointment, bool, bool]
"""Part of an appointment within one day: start, end, appointment, clipped at top, clipped at bottom."""


def short_name(display_name: str) -> str:
    """« Camille DURAND (IDE) » → « Camille DURAND »: column headers are narrow."""
    return display_name.split(" (")[0]


def column_label(display_name: str) -> str:
    """« Camille DURAND (IDE) » → « C. DURAND »."""
    words = short_name(display_name).split()
    if len(words) < 2:
        return short_name(display_name)
    return f"{words[0][0]}. {' '.join(words[1:])}"


class TimeGridView(QWidget):
    """Day or week grid; columns are (day, practitioner) pairs, several practitioners side by side.

    Signals:
        move_requested(object, object, object, int): appointment, new start, new end, practitioner id, after a drag,
            a resize or a keyboard move.
        create_requested(int, object): practitioner id and start of a double-clicked free slot.
        edit_requested(object): an appointment was double-clicked or Enter pressed on it.
        cancel_requested(object): Delete pressed on an appointment.
        selection_changed(object): the selected appointment (or None).
    """

    move_requested = Signal(object, object, object, int)
    create_requested = Signal(int, object)
    edit_requested = Signal(object)
    cancel_requested = Signal(object)
    selection_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.first_hour = 6
        self.last_hour = 21
        self.px_per_minute = 1.2
        self.columns: list[GridColumn] = []
        self.appointments: dict[int, Appointment] = {}
        self.types: dict[str, AppointmentType] = {}
        self.hours: dict[int, tuple[WorkingPeriod, ...]] = {}
        self.absences: list[Absence] = []
        self.holidays: dict[dt.date, str] = {}
        self.show_cancelled = False
        self.selected_id: int | None = None
        self._blocks: list[_Block] = []
        self._drag: dict[str, object] | None = None
        self._ghost: QRectF | None = None
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(self._font.pointSizeF() - 1, 7))
        self._bold = QFont(self._font)
        self._bold.setBold(True)
        self._metrics = QFontMetrics(self._font)
        self._line_height = self._metrics.height()
        self._text_pen = QPen(QColor("#111111"))
        self._muted_pen = QPen(QColor("#555555"))
        self._render_cache: dict[tuple[Appointment, int], _Render] = {}

    # -- data -----------------------------------------------------------------------------------------------
    def set_data(
        self,
        columns: Sequence[GridColumn],
        appointments: Sequence[Appointment],
        *,
        types: Sequence[AppointmentType] = (),
        hours: dict[int, tuple[WorkingPeriod, ...]] | None = None,
        absences: Sequence[Absence] = (),
        holidays: dict[dt.date, str] | None = None,
    ) -> None:
        """Show ``appointments`` in ``columns``; the layout is computed here, once."""
        self.columns = list(columns)
        self.appointments = {a.id: a for a in appointments if a.id is not None}
        if types:
            self.types = {t.code: t for t in types}
            self._render_cache.clear()
        self.hours = dict(hours or {})
        self.absences = list(absences)
        self.holidays = dict(holidays or {})
        if self.selected_id not in self.appointments:
            self.selected_id = None
        self._fit_hours()
        self.relayout()

    def replace_appointment(self, appointment: Appointment) -> None:
        """Show a changed appointment at once (optimistic move, saved result); only its columns repaint."""
        if appointment.id is None:
            return
        before = self._columns_of(appointment.id)
        self.appointments[appointment.id] = appointment
        start, end = to_local(appointment.start).date(), to_local(appointment.end).date()
        after = {
            i
            for i, c in enumerate(self.columns)
            if c.practitioner_id == appointment.practitioner_id and start <= c.day <= end
        }
        self.relayout(full=False, only=before | after)
        width = self.column_width()
        for column in before | after:
            self.update(QRect(int(GUTTER_PX + column * width) - 2, 0, int(width) + 4, self.height()))

    def _columns_of(self, appointment_id: int) -> set[int]:
        return {b.column for b in self._blocks if b.appointment.id == appointment_id}

    def remove_appointment(self, appointment_id: int) -> None:
        """Stop showing an appointment."""
        self.appointments.pop(appointment_id, None)
        self.relayout()

    def _fit_hours(self) -> None:
        first, last = 7, 20
        for periods in self.hours.values():
            for p in periods:
                first = min(first, p.start.hour)
                last = max(last, p.end.hour + (1 if p.end.minute else 0))
        for a in self.appointments.values():
            s, e = to_local(a.start), to_local(a.end)
            if s.date() == e.date():
                first = min(first, s.hour)
                last = max(last, e.hour + (1 if e.minute else 0))
            else:
                first, last = 0, 24
        self.first_hour = max(0, first)
        self.last_hour = min(24, max(last, self.first_hour + 1))

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        """Wide enough for every column, tall enough for the hours."""
        several = len({c.practitioner_id for c in self.columns}) > 1
        minimum = MIN_SHARED_COLUMN_PX if several and len(self.columns) > 8 else MIN_COLUMN_PX
        return QSize(GUTTER_PX + minimum * max(len(self.columns), 1), self._grid_height() + HEADER_PX)

    def _grid_height(self) -> int:
        return int((self.last_hour - self.first_hour) * 60 * self.px_per_minute)

    def column_width(self) -> float:
        """Width of one column in pixels."""
        return max((self.width() - GUTTER_PX) / max(len(self.columns), 1), 1.0)

    def resizeEvent(self, event: object) -> None:  # noqa: N802 (Qt API)
        """Columns follow the width."""
        self.relayout()

    def relayout(self, *, full: bool = True, only: set[int] | None = None) -> None:
        """Place every visible appointment: clip to each day it covers, share a column between overlaps.

        Args:
            full: repaint everything (else the caller repaints what changed).
            only: recompute these columns only (a moved appointment), keeping the others' blocks.
        """
        self.setMinimumSize(self.sizeHint())
        width = self.column_width()
        index = {(c.day, c.practitioner_id): i for i, c in enumerate(self.columns)}
        practitioners = None if only is None else {self.columns[c].practitioner_id for c in only}
        per_column: dict[int, list[_Piece]] = {}
        for a in self.appointments.values():
            if practitioners is not None and a.practitioner_id not in practitioners:
                continue
            if not self.show_cancelled and not a.occupies_slot and a.status is not AppointmentStatus.NO_SHOW:
                continue
            start, end = to_local(a.start), to_local(a.end)
            day = start.date()
            while day <= end.date():
                col = index.get((day, a.practitioner_id))
                if col is not None and (only is None or col in only):
                    day_start = dt.datetime.combine(day, dt.time(0), tzinfo=PARIS)
                    day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=PARIS)
                    if start < day_end and end > day_start:
                        piece_start, piece_end = max(start, day_start), min(end, day_end)
                        per_column.setdefault(col, []).append(
                            (piece_start, piece_end, a, piece_start > start, piece_end < end)
                        )
                day += dt.timedelta(days=1)
        blocks: list[_Block] = [] if only is None else [b for b in self._blocks if b.column not in only]
        for col, pieces in per_column.items():
            pieces.sort(key=lambda p: (p[0], p[1]))
            lanes: list[dt.datetime] = []
            cluster: list[tuple[int, _Piece]] = []
            cluster_end: dt.datetime | None = None
            for piece in pieces:
                if cluster_end is not None and piece[0] >= cluster_end:
                    blocks.extend(self._cluster_blocks(col, width, cluster))
                    cluster, lanes, cluster_end = [], [], None
                lane = next((i for i, busy_until in enumerate(lanes) if busy_until <= piece[0]), len(lanes))
                if lane == len(lanes):
                    lanes.append(piece[1])
                else:
                    lanes[lane] = piece[1]
                cluster.append((lane, piece))
                cluster_end = piece[1] if cluster_end is None else max(cluster_end, piece[1])
            blocks.extend(self._cluster_blocks(col, width, cluster))
        self._blocks = blocks
        if full:
            self.update()

    def _cluster_blocks(self, col: int, width: float, cluster: list[tuple[int, _Piece]]) -> list[_Block]:
        """Blocks of a group of overlapping appointments, side by side in lanes."""
        count = max((lane for lane, _ in cluster), default=0) + 1
        result = []
        for lane, piece in cluster:
            x = GUTTER_PX + col * width + 1 + lane * (width - 3) / count
            top = self._y_of(piece[0])
            bottom = self._y_of(piece[1], end=True)
            rect = QRectF(x, top, (width - 3) / count - 1, max(bottom - top - 1, 8))
            result.append(_Block(piece[2], col, rect, piece[3], piece[4]))
        return result

    def _y_of(self, moment: dt.datetime, *, end: bool = False) -> float:
        local = to_local(moment)
        minutes = local.hour * 60 + local.minute
        if end and minutes == 0:
            minutes = 24 * 60
        return HEADER_PX + (minutes - self.first_hour * 60) * self.px_per_minute

    def _y_of_minutes(self, minutes: int) -> float:
        return HEADER_PX + (minutes - self.first_hour * 60) * self.px_per_minute

    def _time_at(self, column: int, y: float) -> dt.datetime:
        minutes = (y - HEADER_PX) / self.px_per_minute + self.first_hour * 60
        minutes = max(0, min(24 * 60 - SNAP_MINUTES, round(minutes / SNAP_MINUTES) * SNAP_MINUTES))
        day = self.columns[column].day
        naive = dt.datetime.combine(day, dt.time(0)) + dt.timedelta(minutes=minutes)
        return naive.replace(tzinfo=PARIS).astimezone(dt.UTC)

    def _column_at(self, x: float) -> int | None:
        if x < GUTTER_PX or not self.columns:
            return None
        col = int((x - GUTTER_PX) // self.column_width())
        return col if 0 <= col < len(self.columns) else None

    def block_rect(self, appointment_id: int) -> QRect | None:
        """Where an appointment is drawn (its first piece), for tests and benches."""
        block = next((b for b in self._blocks if b.appointment.id == appointment_id), None)
        return block.rect.toRect() if block else None

    def column_index(self, day: dt.date, practitioner_id: int) -> int | None:
        """Index of the column of ``day`` and ``practitioner_id``."""
        return next(
            (i for i, c in enumerate(self.columns) if c.day == day and c.practitioner_id == practitioner_id), None
        )

    def point_for(self, column: int, moment: dt.datetime) -> QPoint:
        """The pixel of ``moment`` in the middle of ``column``."""
        x = GUTTER_PX + (column + 0.5) * self.column_width()
        return QPoint(int(x), int(self._y_of(moment)) + 1)

    # -- painting -------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        """Background, hours, working periods, absences, holidays, appointments, drag ghost."""
        painter = QPainter(self)
        clip = event.rect()
        width = self.column_width()
        painter.fillRect(clip, QColor("#ececec"))
        bottom = HEADER_PX + self._grid_height()
        for i, column in enumerate(self.columns):
            x = GUTTER_PX + i * width
            if x > clip.right() or x + width < clip.left():
                continue
            if column.day in self.holidays:
                painter.fillRect(QRectF(x, HEADER_PX, width, bottom - HEADER_PX), QColor("#e4dccb"))
            else:
                for p in self.hours.get(column.practitioner_id, ()):
                    if p.weekday == column.day.weekday():
                        top = (
                            HEADER_PX + (p.start.hour * 60 + p.start.minute - self.first_hour * 60) * self.px_per_minute
                        )
                        end_y = HEADER_PX + (p.end.hour * 60 + p.end.minute - self.first_hour * 60) * self.px_per_minute
                        painter.fillRect(QRectF(x, top, width, end_y - top), QColor("#ffffff"))
            for absence in self.absences:
                if absence.practitioner_id != column.practitioner_id:
                    continue
                day_start = dt.datetime.combine(column.day, dt.time(0), tzinfo=PARIS)
                day_end = day_start + dt.timedelta(days=1)
                if absence.start < day_end and absence.end > day_start:
                    top = self._y_of(max(absence.start, day_start))
                    end_y = self._y_of(min(absence.end, day_end), end=True)
                    painter.fillRect(
                        QRectF(x, top, width, end_y - top), QBrush(QColor("#c9c9c9"), Qt.BrushStyle.BDiagPattern)
                    )
                    painter.setPen(QColor("#555555"))
                    painter.setFont(self._font)
                    painter.drawText(
                        QRectF(x + 3, top + 2, width - 6, 30),
                        Qt.TextFlag.TextWordWrap,
                        f"Absent : {absence.reason}" if absence.reason else "Absent",
                    )
        # Hour lines and gutter labels.
        painter.setFont(self._font)
        for hour in range(self.first_hour, self.last_hour + 1):
            y = HEADER_PX + (hour - self.first_hour) * 60 * self.px_per_minute
            painter.setPen(QPen(QColor("#c4c4c4"), 1))
            painter.drawLine(GUTTER_PX, int(y), self.width(), int(y))
            painter.setPen(QPen(QColor("#e0e0e0"), 1, Qt.PenStyle.DotLine))
            half = y + 30 * self.px_per_minute
            if hour < self.last_hour:
                painter.drawLine(GUTTER_PX, int(half), self.width(), int(half))
            painter.setPen(QColor("#333333"))
            painter.drawText(QRectF(0, y + 1, GUTTER_PX - 6, 14), Qt.AlignmentFlag.AlignRight, f"{hour:02d}:00")
        # Column separators: a strong line between days, a light one between practitioners of the same day.
        for i, column in enumerate(self.columns):
            x = int(GUTTER_PX + i * width)
            new_day = i == 0 or self.columns[i - 1].day != column.day
            painter.setPen(QPen(QColor("#707070" if new_day else "#bdbdbd"), 2 if new_day else 1))
            painter.drawLine(x, 0, x, bottom)
        today = dt.datetime.now(PARIS)
        today_col = [i for i, c in enumerate(self.columns) if c.day == today.date()]
        if today_col and self.first_hour <= today.hour < self.last_hour:
            y = self._y_of(today)
            painter.setPen(QPen(QColor("#d0021b"), 2))
            for i in today_col:
                painter.drawLine(int(GUTTER_PX + i * width), int(y), int(GUTTER_PX + (i + 1) * width), int(y))
        for block in self._blocks:
            if block.rect.intersects(QRectF(clip)):
                self._paint_block(painter, block)
        if self._ghost is not None:
            painter.setPen(QPen(QColor("#1a4f8b"), 2, Qt.PenStyle.DashLine))
            painter.setBrush(QColor(26, 79, 139, 50))
            painter.drawRoundedRect(self._ghost, 3, 3)
        # The header stays at the top of the visible part while the hours scroll under it.
        painter.translate(0, self.header_top())
        self._paint_header(painter, width)
        painter.end()

    def header_top(self) -> int:
        """Where the column header is drawn: the top of the visible part of the grid."""
        return max(0, -self.y()) if self.parentWidget() is not None else 0

    def _paint_header(self, painter: QPainter, width: float) -> None:
        painter.fillRect(QRectF(0, 0, self.width(), HEADER_PX), QColor("#f4f6f8"))
        painter.setPen(QColor("#707070"))
        painter.drawLine(0, HEADER_PX, self.width(), HEADER_PX)
        several = len({c.practitioner_id for c in self.columns}) > 1
        i = 0
        while i < len(self.columns):
            column = self.columns[i]
            j = i
            while j + 1 < len(self.columns) and self.columns[j + 1].day == column.day:
                j += 1
            x = GUTTER_PX + i * width
            span = (j - i + 1) * width
            label = f"{WEEKDAY_NAMES_FR[column.day.weekday()][:3].capitalize()}. {column.day:%d/%m}"
            if column.day in self.holidays:
                label += f" — {self.holidays[column.day]}"
            painter.setFont(self._bold)
            painter.setPen(QColor("#1f1f1f"))
            painter.drawText(
                QRectF(x + 2, 2, span - 4, 18),
                Qt.AlignmentFlag.AlignCenter,
                self._metrics.elidedText(label, Qt.TextElideMode.ElideRight, int(span - 4)),
            )
            if several:
                painter.setFont(self._font)
                for k in range(i, j + 1):
                    sub = self.columns[k].practitioner_label
                    painter.drawText(
                        QRectF(GUTTER_PX + k * width + 1, 20, width - 2, 18),
                        Qt.AlignmentFlag.AlignCenter,
                        self._metrics.elidedText(sub, Qt.TextElideMode.ElideRight, int(width - 2)),
                    )
            i = j + 1

    def _render(self, a: Appointment, width: int) -> _Render:
        """Texts (already elided) and colours of a block, cached: painting a busy week stays cheap."""
        key = (a, width)
        cached = self._render_cache.get(key)
        if cached is not None:
            return cached
        kind = self.types.get(a.type_code)
        colour = QColor(kind.colour if kind else DEFAULT_COLOUR)
        inactive = a.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW)
        fill = colour.lighter(165) if inactive or a.status is AppointmentStatus.DONE else colour.lighter(125)
        start = to_local(a.start)
        prefix = {
            AppointmentStatus.CANCELLED: "Annulé · ",
            AppointmentStatus.NO_SHOW: "Absent · ",
            AppointmentStatus.DONE: "✓ ",
        }.get(a.status, "")
        home = "⌂ " if a.place is PlaceKind.HOME else ""
        series = " ↻" if a.series_id is not None else ""
        narrow = width < 110
        # Narrow columns (several practitioners side by side): the name first, symbols dropped.
        first = a.label if narrow else f"{start:%H:%M} {prefix}{home}{a.label}{series}"
        second = a.care or (kind.label if kind else a.type_code)
        if narrow:
            second = f"{start:%H:%M} {second}"
        inner = max(width - 8, 1)
        render = _Render(
            self._metrics.elidedText(first, Qt.TextElideMode.ElideRight, inner),
            self._metrics.elidedText(second, Qt.TextElideMode.ElideRight, inner),
            fill,
            colour.darker(120),
            inactive,
        )
        if len(self._render_cache) > 20_000:
            self._render_cache.clear()
        self._render_cache[key] = render
        return render

    def _paint_block(self, painter: QPainter, block: _Block) -> None:
        a = block.appointment
        rect = block.rect
        render = self._render(a, int(rect.width()))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(render.fill)
        painter.drawRoundedRect(rect, 3, 3)
        painter.setBrush(render.bar)
        painter.drawRect(QRectF(rect.left(), rect.top(), 4, rect.height()))
        if a.id == self.selected_id:
            painter.setPen(QPen(QColor("#0b2a55"), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 3, 3)
        painter.setPen(self._muted_pen if render.inactive else self._text_pen)
        painter.setFont(self._font if render.inactive else self._bold)
        line_height = self._line_height
        left, top, inner_width = rect.left() + 6, rect.top() + 1, rect.width() - 8
        painter.drawText(QRectF(left, top, inner_width, line_height), Qt.AlignmentFlag.AlignLeft, render.first)
        if rect.height() - 2 >= 2 * line_height:
            painter.setFont(self._font)
            painter.drawText(
                QRectF(left, top + line_height, inner_width, line_height), Qt.AlignmentFlag.AlignLeft, render.second
            )
        if render.inactive:
            painter.setPen(self._muted_pen)
            mid = rect.top() + min(rect.height(), line_height) / 2 + 1
            painter.drawLine(int(rect.left() + 6), int(mid), int(rect.right() - 2), int(mid))

    # -- mouse and keyboard ---------------------------------------------------------------------------------
    def _block_at(self, pos: QPoint) -> _Block | None:
        point = pos.toPointF()
        for block in reversed(self._blocks):
            if block.rect.contains(point):
                return block
        return None

    def select(self, appointment_id: int | None) -> None:
        """Select an appointment (keyboard moves act on it); only the two blocks concerned repaint."""
        previous, self.selected_id = self.selected_id, appointment_id
        self.selection_changed.emit(self.appointments.get(appointment_id) if appointment_id else None)
        for block in self._blocks:
            if block.appointment.id in (previous, appointment_id):
                self.update(block.rect.toAlignedRect().adjusted(-2, -2, 2, 2))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        """Select; start a move, or a resize near the bottom edge."""
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self.setFocus()
        if event.position().y() < self.header_top() + HEADER_PX:
            return
        block = self._block_at(event.position().toPoint())
        if block is None:
            self.select(None)
            return
        self.select(block.appointment.id)
        if block.appointment.status is not AppointmentStatus.PLANNED:
            return
        resize = not block.clipped_bottom and event.position().y() >= block.rect.bottom() - RESIZE_GRIP_PX
        start_time = self._time_at(block.column, event.position().y())
        self._drag = {
            "block": block,
            "resize": resize,
            "origin": event.position(),
            "offset": start_time - block.appointment.start.astimezone(dt.UTC),
            "moved": False,
        }

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        """Show where the appointment would go (ghost) and the resize cursor near bottom edges."""
        if self._drag is None:
            block = self._block_at(event.position().toPoint())
            near = block is not None and event.position().y() >= block.rect.bottom() - RESIZE_GRIP_PX
            self.setCursor(Qt.CursorShape.SizeVerCursor if near else Qt.CursorShape.ArrowCursor)
            return
        origin = self._drag["origin"]
        assert isinstance(origin, QPointF)
        if not self._drag["moved"] and (event.position() - origin).manhattanLength() < 4:
            return
        self._drag["moved"] = True
        target = self._drag_target(event.position().x(), event.position().y())
        if target is None:
            return
        column, start, end = target
        width = self.column_width()
        top = self._y_of(start)
        previous = self._ghost
        self._ghost = QRectF(GUTTER_PX + column * width + 2, top, width - 4, max(self._y_of(end, end=True) - top, 6))
        for rect in (previous, self._ghost):
            if rect is not None:
                self.update(rect.toAlignedRect().adjusted(-3, -3, 3, 3))

    def _drag_target(self, x: float, y: float) -> tuple[int, dt.datetime, dt.datetime] | None:
        assert self._drag is not None
        block = self._drag["block"]
        assert isinstance(block, _Block)
        a = block.appointment
        if self._drag["resize"]:
            end = self._time_at(block.column, y)
            start = a.start.astimezone(dt.UTC)
            if end <= start + dt.timedelta(minutes=SNAP_MINUTES):
                end = start + dt.timedelta(minutes=SNAP_MINUTES)
            return block.column, start, end
        column = self._column_at(x)
        if column is None:
            return None
        offset = self._drag["offset"]
        assert isinstance(offset, dt.timedelta)
        start = self._time_at(column, y) - offset
        start = start.replace(minute=start.minute - start.minute % SNAP_MINUTES, second=0, microsecond=0)
        return column, start, start + a.duration

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        """Commit a drag: emit ``move_requested`` (the controller checks conflicts and saves)."""
        drag, self._drag = self._drag, None
        if self._ghost is not None:
            self.update(self._ghost.toAlignedRect().adjusted(-3, -3, 3, 3))
        self._ghost = None
        if drag is None or not drag["moved"]:
            return
        target = self._drag_target_from(drag, event.position().x(), event.position().y())
        if target is None:
            return
        column, start, end = target
        block = drag["block"]
        assert isinstance(block, _Block)
        a = block.appointment
        practitioner = self.columns[column].practitioner_id
        if start == a.start and end == a.end and practitioner == a.practitioner_id:
            return
        self.move_requested.emit(a, start, end, practitioner)

    def _drag_target_from(
        self, drag: dict[str, object], x: float, y: float
    ) -> tuple[int, dt.datetime, dt.datetime] | None:
        self._drag = drag
        try:
            return self._drag_target(x, y)
        finally:
            self._drag = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        """Edit an appointment, or create one in a free slot."""
        block = self._block_at(event.position().toPoint())
        if block is not None:
            self.edit_requested.emit(block.appointment)
            return
        column = self._column_at(event.position().x())
        if column is None or event.position().y() < HEADER_PX:
            return
        start = self._time_at(column, event.position().y())
        start = start.replace(minute=start.minute - start.minute % 15)
        self.create_requested.emit(self.columns[column].practitioner_id, start)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        """Up/Down move 15 min (Shift: change the end), Left/Right move to the previous/next column, Delete cancels,
        Enter edits, Tab selects the next appointment."""
        selected = self.appointments.get(self.selected_id) if self.selected_id else None
        key = event.key()
        if key == Qt.Key.Key_Tab or key == Qt.Key.Key_Backtab:
            self._select_next(-1 if key == Qt.Key.Key_Backtab else 1)
            return
        if selected is None:
            super().keyPressEvent(event)
            return
        step = dt.timedelta(minutes=KEY_STEP_MINUTES)
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.edit_requested.emit(selected)
        elif key == Qt.Key.Key_Delete:
            self.cancel_requested.emit(selected)
        elif selected.status is not AppointmentStatus.PLANNED:
            super().keyPressEvent(event)
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            delta = -step if key == Qt.Key.Key_Up else step
            if shift:
                end = selected.end + delta
                if end - selected.start >= dt.timedelta(minutes=SNAP_MINUTES):
                    self.move_requested.emit(selected, selected.start, end, selected.practitioner_id)
            else:
                self.move_requested.emit(
                    selected, selected.start + delta, selected.end + delta, selected.practitioner_id
                )
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self._move_to_next_column(selected, -1 if key == Qt.Key.Key_Left else 1)
        else:
            super().keyPressEvent(event)

    def _move_to_next_column(self, selected: Appointment, direction: int) -> None:
        local = to_local(selected.start)
        current = self.column_index(local.date(), selected.practitioner_id)
        if current is None:
            return
        target = current + direction
        if not 0 <= target < len(self.columns):
            return
        column = self.columns[target]
        naive = dt.datetime.combine(column.day, local.time())
        start = naive.replace(tzinfo=PARIS).astimezone(dt.UTC)
        self.move_requested.emit(selected, start, start + selected.duration, column.practitioner_id)

    def _select_next(self, direction: int) -> None:
        ordered = sorted(
            (b.appointment for b in self._blocks), key=lambda a: (to_local(a.start).date(), a.practitioner_id, a.start)
        )
        ids = list(dict.fromkeys(a.id for a in ordered))
        if not ids:
            return
        index = (ids.index(self.selected_id) + direction) % len(ids) if self.selected_id in ids else 0
        self.select(ids[index])

    def focusNextPrevChild(self, next_child: bool) -> bool:  # noqa: N802 (Qt API)
        """Tab walks through appointments rather than leaving the grid."""
        return False


class MonthGridView(QWidget):
    """A month: one cell per day with its first appointments; double-click opens the day.

    Signals:
        day_activated(object): a day (``datetime.date``) was double-clicked.
    """

    day_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.month = dt.date.today().replace(day=1)
        self.by_day: dict[dt.date, list[Appointment]] = {}
        self.holidays: dict[dt.date, str] = {}
        self.types: dict[str, AppointmentType] = {}
        self.setMinimumSize(QSize(700, 480))

    def set_data(
        self,
        month: dt.date,
        appointments: Sequence[Appointment],
        holidays: dict[dt.date, str],
        types: Sequence[AppointmentType],
    ) -> None:
        """Show ``month`` (any day of it)."""
        self.month = month.replace(day=1)
        self.holidays = holidays
        self.types = {t.code: t for t in types}
        self.by_day = {}
        for a in sorted(appointments, key=lambda a: a.start):
            if a.occupies_slot:
                self.by_day.setdefault(to_local(a.start).date(), []).append(a)
        self.update()

    def _first_cell_day(self) -> dt.date:
        return self.month - dt.timedelta(days=self.month.weekday())

    def _cell(self) -> tuple[float, float]:
        return self.width() / 7, (self.height() - 24) / 6

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        """Six weeks of seven days."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#ffffff"))
        cw, ch = self._cell()
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() - 1, 7))
        metrics = QFontMetrics(font)
        painter.setFont(font)
        for i, name in enumerate(WEEKDAY_NAMES_FR):
            painter.drawText(QRectF(i * cw, 0, cw, 22), Qt.AlignmentFlag.AlignCenter, name.capitalize())
        first = self._first_cell_day()
        for n in range(42):
            day = first + dt.timedelta(days=n)
            x, y = (n % 7) * cw, 24 + (n // 7) * ch
            cell = QRectF(x, y, cw, ch)
            if day.month != self.month.month:
                painter.fillRect(cell, QColor("#f1f1f1"))
            if day in self.holidays:
                painter.fillRect(cell, QColor("#efe6d3"))
            if day == dt.date.today():
                painter.fillRect(cell, QColor("#e3eefb"))
            painter.setPen(QColor("#b0b0b0"))
            painter.drawRect(cell)
            painter.setPen(QColor("#1f1f1f"))
            items = self.by_day.get(day, [])
            head = f"{day.day}"
            if items:
                head += f" — {len(items)} RDV"
            if day in self.holidays:
                head += f" ({self.holidays[day]})"
            painter.drawText(
                QRectF(x + 4, y + 2, cw - 8, 16),
                Qt.AlignmentFlag.AlignLeft,
                metrics.elidedText(head, Qt.TextElideMode.ElideRight, int(cw - 8)),
            )
            lines = max(int((ch - 20) // metrics.height()), 0)
            for k, a in enumerate(items[:lines]):
                if k == lines - 1 and len(items) > lines:
                    text = f"… et {len(items) - k} autres"
                else:
                    text = f"{to_local(a.start):%H:%M} {a.label}"
                kind = self.types.get(a.type_code)
                painter.fillRect(
                    QRectF(x + 4, y + 20 + k * metrics.height() + 3, 4, metrics.height() - 5),
                    QColor(kind.colour if kind else DEFAULT_COLOUR),
                )
                painter.drawText(
                    QRectF(x + 11, y + 20 + k * metrics.height(), cw - 15, metrics.height()),
                    Qt.AlignmentFlag.AlignLeft,
                    metrics.elidedText(text, Qt.TextElideMode.ElideRight, int(cw - 15)),
                )
        painter.end()

    def day_at(self, pos: QPoint) -> dt.date | None:
        """The day under ``pos``."""
        cw, ch = self._cell()
        if pos.y() < 24:
            return None
        n = int(pos.y() - 24) // max(int(ch), 1) * 7 + int(pos.x() // max(cw, 1))
        return self._first_cell_day() + dt.timedelta(days=n) if 0 <= n < 42 else None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        """Open the day."""
        day = self.day_at(event.position().toPoint())
        if day is not None:
            self.day_activated.emit(day)


def moved_copy(appointment: Appointment, start: dt.datetime, end: dt.datetime, practitioner_id: int) -> Appointment:
    """The appointment as it will look once moved (for the optimistic display)."""
    return replace(appointment, start=start, end=end, practitioner_id=practitioner_id, round_position=None)
