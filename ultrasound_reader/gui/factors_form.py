"""The clinical-factors form: what the reader knows about the patient and the lesion.

FLL mode has the factors of Yang et al. 2020 (age, sex, hepatitis history,
extrahepatic tumour history, AFP and the ultrasonic features); soft-tissue mode the
ones its model needs (age, sex, site, depth). "Unknown" is a value of its own, never
the same as "No": a factor that is not recorded leaves Model^LBC uncomputed rather
than silently imputed, so every yes/no field is a three-way choice.

The ranges are checked by :class:`~ultrasound_reader.case.ClinicalFactors` itself (one
place for the rules); the form only shows its messages under the field. The fields a
bundle's LBC fusion needs are marked (``set_required``). Keyboard: every field has an
Alt mnemonic on its label, Tab walks the fields in reading order, and the choice boxes
select by first letter (Unknown / No / Yes, M / F, ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader.case import HEPATITIS_LEVELS, ClinicalFactors
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui import theme

UNKNOWN = "Unknown"
YES_NO: tuple[tuple[str, object], ...] = ((UNKNOWN, None), ("No", False), ("Yes", True))

# field -> (label with mnemonic, choices or None for a number/text field, unit)
_SPECS: dict[str, tuple[str, tuple[tuple[str, object], ...] | None, str]] = {
    "age": ("&Age", None, "years"),
    "sex": ("&Sex", ((UNKNOWN, None), ("Male", "M"), ("Female", "F")), ""),
    "hepatitis": ("He&patitis history",
                  ((UNKNOWN, None), *((("None" if v == "none" else v), k) for k, v in HEPATITIS_LEVELS.items())), ""),
    "tumour_history": ("Extrahepatic &tumour history", YES_NO, ""),
    "afp": ("A&FP", None, "ng/mL"),
    "halo": ("Hypoechoic ha&lo", YES_NO, ""),
    "vascularity": ("Intratumoural &vascularity", YES_NO, ""),
    "shape": ("S&hape", ((UNKNOWN, None), ("Round", "round"), ("Ellipse (oval)", "ellipse"),
                         ("Irregular", "irregular")), ""),
    "margin": ("&Margin", ((UNKNOWN, None), ("Smooth", "smooth"), ("Not smooth", "not_smooth")), ""),
    "echogenicity": ("&Echogenicity", ((UNKNOWN, None), ("Hypoechoic", "hypo"), ("Isoechoic", "iso"),
                                       ("Hyperechoic", "hyper"), ("Heterogeneous", "heterogeneous")), ""),
    "posterior_enhancement": ("Posterior enhan&cement", YES_NO, ""),
    "satellite": ("Satell&ite lesion", YES_NO, ""),
    "site": ("Bod&y site", None, ""),
    "depth_mm": ("&Depth", None, "mm"),
}
FLL_FIELDS: tuple[str, ...] = ("age", "sex", "hepatitis", "tumour_history", "afp", "halo", "vascularity",
                               "shape", "margin", "echogenicity", "posterior_enhancement", "satellite")
SOFT_TISSUE_FIELDS: tuple[str, ...] = ("age", "sex", "site", "depth_mm")
NUMBER_FIELDS: tuple[str, ...] = ("age", "afp", "depth_mm")
SITES: tuple[str, ...] = ("head and neck", "trunk", "upper limb", "lower limb")
READABLE = {"tumour_history": "extrahepatic tumour history", "halo": "hypoechoic halo",
            "vascularity": "intratumoural vascularity", "posterior_enhancement": "posterior enhancement",
            "satellite": "satellite lesion", "hepatitis": "hepatitis history", "afp": "AFP",
            "depth_mm": "depth", "site": "body site"}
# The fusion may use a derived factor; the reader enters the field it derives from.
_DERIVED = {"afp_high": "afp"}


def readable(name: str) -> str:
    return READABLE.get(name, name.replace("_", " "))


def required_from_fusion(spec: Mapping[str, Any] | None) -> list[str]:
    """The form fields a bundle's LBC fusion needs (``manifest["fusion"]``), in term order."""
    if not spec:
        return []
    from ultrasound_reader.ai.fusion import required_factors

    out: list[str] = []
    for name in required_factors(dict(spec)):
        name = _DERIVED.get(name, name)
        if name not in out:
            out.append(name)
    return out


_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def parse_dicom_age(value: object) -> float | None:
    """Years from a DICOM Age String (``"045Y"``, ``"006M"``, ``"010W"``, ``"003D"``), or None."""
    if value is None:
        return None
    m = _AGE.match(str(value))
    if not m:
        return None
    years = int(m.group(1)) * _AGE_UNIT_YEARS[m.group(2).upper()]
    return round(years, 2) if years < 2 else float(int(years))


def parse_dicom_sex(value: object) -> str | None:
    """'M' or 'F' from DICOM PatientSex; 'O' (other) and anything else is not recorded."""
    s = str(value or "").strip().upper()
    return s if s in ("M", "F") else None


def _strip_prefix(message: str, name: str) -> str:
    return re.sub(rf"^clinical factor {re.escape(name)}:\s*", "", message)


STYLE = f"""
QLineEdit {{ background: {theme.BASE}; color: {theme.TEXT}; border: 1px solid {theme.BORDER};
             border-radius: 3px; padding: 1px 4px; }}
QLineEdit:focus, QComboBox:focus {{ border-color: {theme.SELECTION}; }}
QLineEdit[invalid="true"] {{ border-color: {theme.ERROR}; }}
QComboBox[unknown="true"] {{ color: {theme.TEXT_DIM}; font-style: italic; }}
"""


def _set_flag(w: QWidget, name: str, on: bool) -> None:
    """Set a boolean dynamic property the style sheet selects on, re-styling only when it changes."""
    if bool(w.property(name)) != on:
        w.setProperty(name, on)
        w.style().unpolish(w)
        w.style().polish(w)


def _same_choice(item: object, value: object) -> bool:
    """Equal choice values, where True is not 1 (a yes/no is not a hepatitis level)."""
    if item is None or value is None:
        return item is None and value is None
    return isinstance(item, bool) == isinstance(value, bool) and item == value


def _format_number(v: float) -> str:
    return f"{v:g}" if math.isfinite(v) else str(v)


WRAP_WIDTH = 360  # narrower than this, labels go above their fields


class FactorsForm(QWidget):
    """Clinical factors of one case; emits ``factorsChanged(ClinicalFactors)`` on every edit.

    ``factors()`` gives what is valid (an invalid entry counts as not recorded and is
    listed by ``errors()``); ``factors(strict=True)`` raises a UserError naming the
    first invalid field instead, for the moment the factors are used for an analysis.
    """

    factorsChanged = Signal(object)

    def __init__(self, task: str = "liver-fll", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("factorsForm")
        self.setStyleSheet(STYLE)
        self._task = ""
        self._required: list[str] = []
        self._errors: dict[str, str] = {}
        self._prefilled: dict[str, str] = {}
        self._updating = False

        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 6)
        outer.setSpacing(4)
        self.title = QLabel("", self)
        self.title.setObjectName("factorsTitle")
        self.title.setStyleSheet(f"color: {theme.TEXT_DIM}; font-weight: bold;")
        self.title.setWordWrap(True)
        outer.addWidget(self.title)
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        # A narrow dock puts the labels above their fields instead of truncating either (resizeEvent).
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.form.setHorizontalSpacing(8)
        self.form.setVerticalSpacing(3)
        outer.addLayout(self.form)

        self.widgets: dict[str, QWidget] = {}
        self.labels: dict[str, QLabel] = {}
        self.messages: dict[str, QLabel] = {}
        self.afp_band = QLabel("", self)
        self.afp_band.setObjectName("afpBand")
        self.afp_band.setMinimumWidth(40)
        self.afp_band.setStyleSheet(f"color: {theme.TEXT_DIM};")
        for name in _SPECS:
            self._add_row(name)

        self.required_note = QLabel("", self)
        self.required_note.setObjectName("requiredNote")
        self.required_note.setWordWrap(True)
        self.required_note.setStyleSheet(f"color: {theme.ACCENT};")
        outer.addWidget(self.required_note)
        self.prefill_note = QLabel("", self)
        self.prefill_note.setObjectName("prefillNote")
        self.prefill_note.setWordWrap(True)
        self.prefill_note.setStyleSheet(f"color: {theme.TEXT_DIM};")
        outer.addWidget(self.prefill_note)
        outer.addStretch(1)
        self.set_task(task)

    # -- construction ------------------------------------------------------------------
    def _add_row(self, name: str) -> None:
        text, choices, unit = _SPECS[name]
        if choices is not None:
            w: QWidget = QComboBox(self)
            for label, value in choices:
                w.addItem(label, value)
            w.setItemData(0, QColor(theme.TEXT_DIM), Qt.ItemDataRole.ForegroundRole)
            w.currentIndexChanged.connect(lambda _i, n=name: self._on_edit(n))
        elif name == "site":
            w = QComboBox(self)
            w.setEditable(True)
            w.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            w.addItem("")
            w.addItems(SITES)
            w.lineEdit().setPlaceholderText("not recorded")
            w.editTextChanged.connect(lambda _t, n=name: self._on_edit(n))
        else:
            w = QLineEdit(self)
            w.setPlaceholderText("not recorded")
            w.setClearButtonEnabled(True)
            w.textChanged.connect(lambda _t, n=name: self._on_edit(n))
        w.setObjectName(f"factor_{name}")
        w.setAccessibleName(readable(name))
        self.widgets[name] = w

        field = QWidget(self)
        row = QHBoxLayout(field)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(w, 1)
        if unit:
            u = QLabel(unit, field)
            u.setStyleSheet(f"color: {theme.TEXT_DIM};")
            row.addWidget(u)
        if name == "afp":
            row.addWidget(self.afp_band)
        label = QLabel(text, self)
        label.setBuddy(w)  # the &-letter jumps to the field
        label.setObjectName(f"label_{name}")
        self.labels[name] = label
        self.form.addRow(label, field)

        msg = QLabel("", self)
        msg.setObjectName(f"message_{name}")
        msg.setWordWrap(True)
        msg.setStyleSheet(f"color: {theme.ERROR};")
        msg.setVisible(False)
        self.messages[name] = msg
        self.form.addRow("", msg)

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        """Below WRAP_WIDTH every label sits above its field (all rows alike), else beside it where it fits."""
        policy = (QFormLayout.RowWrapPolicy.WrapAllRows if self.width() < WRAP_WIDTH
                  else QFormLayout.RowWrapPolicy.WrapLongRows)
        if self.form.rowWrapPolicy() != policy:
            self.form.setRowWrapPolicy(policy)
        super().resizeEvent(event)  # type: ignore[arg-type]

    @property
    def task(self) -> str:
        return self._task

    def visible_fields(self) -> tuple[str, ...]:
        return FLL_FIELDS if self._task == "liver-fll" else SOFT_TISSUE_FIELDS

    def set_task(self, task: str) -> None:
        """Show the fields of ``task`` (``liver-fll`` or ``soft-tissue``) and fix the tab order."""
        if task not in ("liver-fll", "soft-tissue"):
            raise UserError(f"factors form: task {task!r} is not 'liver-fll' or 'soft-tissue'")
        self._task = task
        shown = self.visible_fields()
        for name in _SPECS:
            field_row = self.form.getWidgetPosition(self.labels[name])[0]
            self.form.setRowVisible(field_row, name in shown)
            self.form.setRowVisible(field_row + 1, name in shown and name in self._errors)
        order = [self.widgets[n] for n in shown]
        for a, b in zip(order, order[1:]):
            QWidget.setTabOrder(a, b)
        self.title.setText("Clinical and ultrasonic factors (focal liver lesion)" if task == "liver-fll"
                           else "Clinical factors (soft-tissue mass)")
        self._refresh_notes()

    # -- reading and writing -------------------------------------------------------------
    def _raw(self, name: str) -> object:
        """The entered value of one field: parsed, or the text when it does not parse."""
        w = self.widgets[name]
        if name == "site":
            text = w.currentText().strip()  # type: ignore[attr-defined]
            return text or None
        if isinstance(w, QComboBox):
            return w.currentData()
        text = w.text().strip().replace(",", ".")  # type: ignore[attr-defined]
        if not text:
            return None
        try:
            v = float(text)
        except ValueError:
            return text
        return int(v) if v.is_integer() and abs(v) < 1e15 else v  # "62" reads back as 62, not 62.0

    def _check(self, name: str, value: object) -> str | None:
        """The message for an invalid value, from ClinicalFactors' own rules."""
        if value is None:
            return None
        if name in NUMBER_FIELDS and (not isinstance(value, (int, float)) or not math.isfinite(value)):
            return f"{value!r} is not a number"
        try:
            ClinicalFactors(**{name: value})
        except UserError as exc:
            return _strip_prefix(str(exc), name)
        return None

    def _validate(self) -> dict[str, object]:
        values: dict[str, object] = {}
        self._errors = {}
        for name in _SPECS:
            v = self._raw(name)
            msg = self._check(name, v)
            if msg:
                self._errors[name] = msg
                v = None
            values[name] = v
            self.messages[name].setText(msg or "")
            row = self.form.getWidgetPosition(self.messages[name])[0]
            self.form.setRowVisible(row, bool(msg) and name in self.visible_fields())
            _set_flag(self.widgets[name], "invalid", bool(msg))
        afp = values.get("afp")
        self.afp_band.setText("" if afp is None else ("> 200" if ClinicalFactors(afp=afp).afp_high else "≤ 200"))
        return values

    def factors(self, strict: bool = False) -> ClinicalFactors:
        """The entered factors (fields of the other task's mode are kept as they are)."""
        values = self._validate()
        if strict and self._errors:
            name = next(iter(self._errors))
            raise UserError(f"clinical factor {readable(name)}: {self._errors[name]}")
        return ClinicalFactors(**values)  # type: ignore[arg-type]

    def errors(self) -> dict[str, str]:
        """Field -> message for every invalid entry."""
        self._validate()
        return dict(self._errors)

    def missing_required(self) -> list[str]:
        values = self._validate()
        return [n for n in self._required if values.get(n) is None]

    def set_factors(self, factors: ClinicalFactors) -> None:
        """Show ``factors`` (None = unknown); emits ``factorsChanged`` once."""
        self._updating = True
        try:
            for name, value in asdict(factors).items():
                if name in self.widgets:
                    self._set_widget(name, value)
            self._prefilled.clear()
        finally:
            self._updating = False
        self._changed()

    def set_field(self, name: str, value: object) -> None:
        """Set one field as if the reader had entered it."""
        if name not in self.widgets:
            raise UserError(f"factors form: no field {name!r}")
        self._set_widget(name, value)

    def _set_widget(self, name: str, value: object) -> None:
        w = self.widgets[name]
        if name == "site":
            w.setEditText("" if value is None else str(value))  # type: ignore[attr-defined]
        elif isinstance(w, QComboBox):
            index = next((i for i in range(w.count()) if _same_choice(w.itemData(i), value)), -1)
            if index < 0:
                raise UserError(f"clinical factor {readable(name)}: {value!r} is not one of the choices")
            w.setCurrentIndex(index)
        else:
            w.setText("" if value is None else _format_number(float(value)))  # type: ignore[arg-type, attr-defined]

    def clear(self) -> None:
        self.set_factors(ClinicalFactors())

    def prefill_from_metadata(self, metadata: Mapping[str, Any] | None) -> list[str]:
        """Fill sex and age from DICOM metadata (``patient_sex``, ``patient_age``) where still unknown.

        Never overwrites what the reader entered. Returns the fields filled.
        """
        if not metadata:
            return []
        filled: list[str] = []
        candidates = {"sex": (parse_dicom_sex(metadata.get("patient_sex")), metadata.get("patient_sex")),
                      "age": (parse_dicom_age(metadata.get("patient_age")), metadata.get("patient_age"))}
        self._updating = True
        try:
            for name, (value, raw) in candidates.items():
                if value is None or self._raw(name) is not None or self._check(name, value):
                    continue
                self._set_widget(name, value)
                self._prefilled[name] = str(raw)
                self.widgets[name].setToolTip(f"prefilled from DICOM ({raw})")
                filled.append(name)
        finally:
            self._updating = False
        if filled:
            self._changed()
        return filled

    # -- requirements ------------------------------------------------------------------------
    def set_required(self, names: Iterable[str]) -> None:
        """Mark the fields a model needs (e.g. ``required_from_fusion(manifest["fusion"])``)."""
        names = [_DERIVED.get(n, n) for n in names]
        unknown = [n for n in names if n not in self.widgets]
        if unknown:
            raise UserError(f"factors form: no field for required factor(s) {', '.join(unknown)}")
        self._required = list(dict.fromkeys(names))
        for name, label in self.labels.items():
            text = _SPECS[name][0]
            label.setText(text + (" *" if name in self._required else ""))
            label.setToolTip("needed by Model^LBC" if name in self._required else "")
        self._refresh_notes()

    @property
    def required(self) -> list[str]:
        return list(self._required)

    def _refresh_notes(self, values: Mapping[str, object] | None = None) -> None:
        values = values if values is not None else self._validate()
        shown = self.visible_fields()
        need = [n for n in self._required if n in shown]
        missing = [n for n in need if values.get(n) is None]
        for name, label in self.labels.items():
            colour = theme.ACCENT if name in missing else theme.TEXT
            label.setStyleSheet(f"color: {colour};")
        if not need:
            self.required_note.setText("")
        elif missing:
            self.required_note.setText("* Model^LBC needs: " + ", ".join(readable(n) for n in missing)
                                       + " (not recorded)")
        else:
            self.required_note.setText("* all factors Model^LBC needs are recorded")
        self.required_note.setVisible(bool(need))
        pre = [n for n in self._prefilled if n in shown]
        self.prefill_note.setText("Prefilled from DICOM: " + ", ".join(f"{n} ({self._prefilled[n]})" for n in pre)
                                  if pre else "")
        self.prefill_note.setVisible(bool(pre))
        for w in self.widgets.values():
            if isinstance(w, QComboBox) and not w.isEditable():
                _set_flag(w, "unknown", w.currentData() is None)

    # -- events ------------------------------------------------------------------------------
    def _on_edit(self, name: str) -> None:
        if self._updating:
            return
        if name in self._prefilled:  # the reader took over this field
            self._prefilled.pop(name)
            self.widgets[name].setToolTip("")
        self._changed()

    def _changed(self) -> None:
        values = self._validate()
        self._refresh_notes(values)
        self.factorsChanged.emit(ClinicalFactors(**values))  # type: ignore[arg-type]

