"""Always-visible identity banner of the open patient, and the shared identity display helpers (icons, formats)."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.dto import PatientFile
from domain.identity import IdentityStatus, Sex

ICON_DIR = Path(__file__).resolve().parents[1] / "resources" / "icons"

_STATUS_ICON_FILES = {
    IdentityStatus.PROVISIONAL: "status-provisoire.svg",
    IdentityStatus.RETRIEVED: "status-recuperee.svg",
    IdentityStatus.VALIDATED: "status-validee.svg",
    IdentityStatus.QUALIFIED: "status-qualifiee.svg",
}
STATUS_COLOURS = {
    IdentityStatus.PROVISIONAL: "#b35c00",
    IdentityStatus.RETRIEVED: "#1f5fa8",
    IdentityStatus.VALIDATED: "#4f6b1f",
    IdentityStatus.QUALIFIED: "#1b7a3d",
}
"""Accent colour per status; always paired with the icon shape and the word."""

ATTRIBUTES = (
    ("doubtful", "douteuse", "attribut-douteuse.svg", "Identité douteuse : l'INSi ne doit pas être appelé (RNIV)."),
    ("fictitious", "fictive", "attribut-fictive.svg", "Identité fictive (anonymat, usage d'un pseudonyme)."),
    ("homonym", "homonyme", "attribut-homonyme.svg", "Homonyme connu : vérifiez deux traits avant tout acte."),
)
"""(attribute, French word, icon file, tooltip) for the three identity attributes."""

LOCK_TOOLTIP = (
    "Identité {status} : ce trait strict provient du téléservice INSi. Seul un administrateur du cabinet "
    "peut le modifier (sa modification invalide l'INS)."
)


@functools.cache
def icon(name: str) -> QIcon:
    """An icon of ``resources/icons`` by file name (cached)."""
    return QIcon(str(ICON_DIR / name))


def status_icon(status: IdentityStatus) -> QIcon:
    """The icon of an identity status (a distinct shape per status)."""
    return icon(_STATUS_ICON_FILES[status])


def format_date_fr(day: dt.date | None) -> str:
    """JJ/MM/AAAA, or "" for None."""
    return day.strftime("%d/%m/%Y") if day else ""


def format_datetime_fr(moment: dt.datetime) -> str:
    """JJ/MM/AAAA à HH:MM in local time."""
    local = moment.astimezone() if moment.tzinfo else moment
    return local.strftime("%d/%m/%Y à %H:%M")


def format_matricule(matricule: str) -> str:
    """A matricule INS grouped as on the carte Vitale: "2 28 09 04 198 216 71"."""
    m = matricule
    if len(m) != 15:
        return m
    return f"{m[0]} {m[1:3]} {m[3:5]} {m[5:7]} {m[7:10]} {m[10:13]} {m[13:15]}"


def age_fr(birth_date: dt.date, today: dt.date) -> str:
    """Age in French: "34 ans", "1 an", "8 mois", "12 jours"."""
    if birth_date > today:
        return ""
    years = today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    if years >= 2:
        return f"{years} ans"
    months = (today.year - birth_date.year) * 12 + today.month - birth_date.month - (today.day < birth_date.day)
    if months >= 1:
        return f"{months} mois"
    days = (today - birth_date).days
    return f"{days} jour{'s' if days > 1 else ''}"


def born_word(sex: Sex | None) -> str:
    """ "née", "né" or "né(e)" according to the sex."""
    if sex is Sex.FEMALE:
        return "née"
    if sex is Sex.MALE:
        return "né"
    return "né(e)"


def attribute_words(doubtful: bool, fictitious: bool, homonym: bool) -> list[str]:
    """French words of the attributes that are set."""
    flags = {"doubtful": doubtful, "fictitious": fictitious, "homonym": homonym}
    return [word for key, word, _, _ in ATTRIBUTES if flags[key]]


class _Badge(QFrame):
    """An attribute badge: icon + word, framed (readable without colour)."""

    def __init__(self, icon_file: str, word: str, tooltip: str) -> None:
        super().__init__()
        self.setObjectName("badge")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(tooltip)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 8, 2)
        layout.setSpacing(4)
        pic = QLabel()
        pic.setPixmap(icon(icon_file).pixmap(QSize(18, 18)))
        layout.addWidget(pic)
        self.word = QLabel(f"<b>{word.upper()}</b>")
        layout.addWidget(self.word)


class IdentityBanner(QFrame):
    """The identity banner: who the open patient is, and how sure we are of it (RNIV display rules).

    Shows nom de naissance, 1er prénom de naissance, nom/prénom utilisés, sexe, date de naissance and age,
    lieu de naissance, the identity status (icon + word, advice as tooltip), attribute badges, and the
    matricule INS with its nature only for a qualified identity (rule 28).
    """

    def __init__(self, today: Callable[[], dt.date] = dt.date.today, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._today = today
        self.setObjectName("identityBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(10, 8, 10, 8)
        outer.setSpacing(12)

        status_box = QVBoxLayout()
        status_box.setSpacing(2)
        self.status_picture = QLabel()
        self.status_picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status_word = QLabel()
        self.status_word.setObjectName("statusWord")
        self.status_word.setAlignment(Qt.AlignmentFlag.AlignCenter)
        status_box.addWidget(self.status_picture)
        status_box.addWidget(self.status_word)
        self.status_frame = QFrame()
        self.status_frame.setObjectName("statusFrame")
        self.status_frame.setLayout(status_box)
        self.status_frame.setMinimumWidth(110)
        outer.addWidget(self.status_frame)

        text_box = QVBoxLayout()
        text_box.setSpacing(3)
        self.name_label = QLabel()
        self.name_label.setObjectName("bannerName")
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.used_label = QLabel()
        self.birth_label = QLabel()
        self.birth_label.setWordWrap(True)
        self.ins_label = QLabel()
        self.ins_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for label in (self.name_label, self.used_label, self.birth_label, self.ins_label):
            text_box.addWidget(label)
        outer.addLayout(text_box, 1)

        self.badges_box = QVBoxLayout()
        self.badges_box.setSpacing(4)
        self.badges: dict[str, _Badge] = {}
        for key, word, icon_file, tooltip in ATTRIBUTES:
            badge = _Badge(icon_file, word, tooltip)
            badge.hide()
            self.badges[key] = badge
            self.badges_box.addWidget(badge)
        self.badges_box.addStretch(1)
        outer.addLayout(self.badges_box)
        self.setStyleSheet(
            "#identityBanner { background: #f7f9fc; border: 1px solid #c5cfdc; border-radius: 4px; }"
            "#bannerName { font-size: 15pt; font-weight: 600; }"
            "#statusWord { font-weight: 700; }"
            "#badge { background: #fff8dc; border: 1px solid #8a7000; border-radius: 3px; }"
        )
        self.set_file(None)

    def set_file(self, file: PatientFile | None) -> None:
        """Show ``file``'s identity, or nothing when None."""
        if file is None:
            self.hide()
            return
        identity = file.patient.identity
        traits = identity.traits
        status = file.status
        colour = STATUS_COLOURS[status]
        self.status_picture.setPixmap(status_icon(status).pixmap(QSize(36, 36)))
        self.status_word.setText(f"Identité<br><span style='color:{colour}'>{status.label_fr.upper()}</span>")
        self.status_frame.setStyleSheet(
            f"#statusFrame {{ border: 2px solid {colour}; border-radius: 4px; background: white; }}"
        )
        self.status_frame.setToolTip(status.advice_fr)
        self.status_word.setToolTip(status.advice_fr)
        self.status_picture.setToolTip(status.advice_fr)

        first = traits.first_birth_given_name
        self.name_label.setText(f"{_esc(traits.birth_name)} {_esc(first)}")
        self.name_label.setToolTip("Nom de naissance et premier prénom de naissance")
        used = []
        used.append(f"Nom utilisé : <b>{_esc(traits.used_name)}</b>" if traits.used_name else "Nom utilisé : —")
        used.append(
            f"Prénom utilisé : <b>{_esc(traits.used_given_name)}</b>"
            if traits.used_given_name
            else "Prénom utilisé : —"
        )
        # Real no-break spaces: "&nbsp;" shows literally when Qt reads a label without tags as plain text.
        self.used_label.setText("  \u00a0·\u00a0 ".join(used))

        sex = traits.sex
        birth = ""
        if traits.birth_date:
            birth = (
                f"{born_word(sex).capitalize()} le <b>{format_date_fr(traits.birth_date)}</b> "
                f"({age_fr(traits.birth_date, self._today())})"
            )
        place = f" à {_esc(file.birth_place_label)}" if file.birth_place_label else ""
        sex_text = f"Sexe : <b>{sex.label_fr}</b>" if sex else ""
        self.birth_label.setText(f"{birth}{place} \u00a0·\u00a0 {sex_text}")

        if status is IdentityStatus.QUALIFIED and identity.ins is not None:
            self.ins_label.setText(
                f"INS : <b>{format_matricule(identity.ins.matricule)}</b> ({_esc(identity.ins.nature)})"
            )
            self.ins_label.setToolTip(f"OID : {identity.ins.oid}")
        else:
            self.ins_label.setText("INS non qualifié")
            self.ins_label.setToolTip(
                "Le matricule INS n'est affiché et transmis que pour une identité qualifiée (RNIV)."
            )
        flags = {"doubtful": identity.doubtful, "fictitious": identity.fictitious, "homonym": identity.homonym}
        for key, badge in self.badges.items():
            badge.setVisible(flags[key])
        self.show()

    def visible_text(self) -> str:
        """Everything the banner shows as plain text (for accessibility checks and tests)."""
        parts = [
            self.status_word.text(),
            self.name_label.text(),
            self.used_label.text(),
            self.birth_label.text(),
            self.ins_label.text(),
        ]
        parts += [badge.word.text() for badge in self.badges.values() if not badge.isHidden()]
        return _strip_tags(" ".join(parts))


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]+>", " ", text).replace("&nbsp;", " ")
