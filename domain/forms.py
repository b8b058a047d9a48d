"""Form engine: declarative, versioned observation templates, their conditions, entry checks and scores."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from domain.errors import InvalidInput

MAX_TEXT_LENGTH = 20_000
"""Longest text answer kept (a multi-line field); longer input is refused, never truncated."""

MAX_FIELDS = 300
MAX_CONDITION_LENGTH = 500
_ID = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_TEMPLATE_KEY = re.compile(r"^[a-z][a-z0-9_.-]{1,79}$")


class FieldType(StrEnum):
    """Kinds of form fields."""

    SECTION = "section"
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"
    CHECKLIST = "checklist"
    SCORE = "score"
    COMPUTED = "computed"
    ATTACHMENT = "attachment"

    @property
    def label_fr(self) -> str:
        """French name shown in the form editor."""
        return {
            "section": "titre de section",
            "text": "texte",
            "number": "nombre",
            "date": "date",
            "choice": "choix",
            "checklist": "liste à cocher",
            "score": "score",
            "computed": "valeur calculée",
            "attachment": "photo / pièce jointe",
        }[self.value]


INPUT_TYPES = frozenset(
    {FieldType.TEXT, FieldType.NUMBER, FieldType.DATE, FieldType.CHOICE, FieldType.CHECKLIST, FieldType.ATTACHMENT}
)
"""Fields the user fills (the others are headings or derived values)."""


class TemplateError(InvalidInput):
    """A template file or a template copy is malformed; ``problems`` lists every French message."""

    def __init__(self, title: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        shown = "\n".join(f"• {p}" for p in self.problems[:20])
        more = f"\n… et {len(self.problems) - 20} autre(s) problème(s)." if len(self.problems) > 20 else ""
        super().__init__(f"Le modèle de formulaire « {title} » est invalide :\n{shown}{more}")


# ------------------------------------------------------------------------------------------------------------
# Conditions: a tiny safe expression language (no eval)
# ------------------------------------------------------------------------------------------------------------


class ConditionSyntaxError(ValueError):
    """A condition cannot be parsed; the message is French and says where."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # name, number, string, op, lparen, rparen, comma, end
    text: str
    pos: int


_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:[.,]\d+)?)|(?P<string>'[^']*'|\"[^\"]*\")|(?P<op>==|!=|<=|>=|<|>)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<lparen>\()|(?P<rparen>\))|(?P<comma>,))"
)
_KEYWORDS = {"et": "and", "and": "and", "ou": "or", "or": "or", "non": "not", "not": "not"}
_KEYWORDS.update({"contient": "contains", "contains": "contains", "vrai": "true", "faux": "false"})
_KEYWORDS.update({"true": "true", "false": "false", "vide": "empty", "empty": "empty"})


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            bad = text[pos:].lstrip()[:1]
            where = len(text) - len(text[pos:].lstrip()) + 1
            raise ConditionSyntaxError(f"caractère inattendu « {bad} » en position {where}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        start = match.start(kind) + 1
        if kind == "name" and value.lower() in _KEYWORDS:
            tokens.append(_Token("kw", _KEYWORDS[value.lower()], start))
        else:
            tokens.append(_Token(kind, value, start))
        pos = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition: ``source`` as written, the AST, and the field ids it reads."""

    source: str
    ast: tuple[Any, ...]
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, object]) -> bool:
        """True when the condition holds for ``values`` (missing answers are empty)."""
        return bool(_truthy(_eval(self.ast, values)))


class _Parser:
    """Recursive descent: or → and → not → comparison → atom."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.names: set[str] = set()

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            raise ConditionSyntaxError(f"{what} attendu en position {token.pos}{_found(token)}")
        return self.take()

    def parse(self) -> tuple[Any, ...]:
        if self.peek().kind == "end":
            raise ConditionSyntaxError("condition vide")
        node = self.parse_or()
        token = self.peek()
        if token.kind != "end":
            raise ConditionSyntaxError(f"« {token.text} » inattendu en position {token.pos} (opérateur manquant ?)")
        return node

    def parse_or(self) -> tuple[Any, ...]:
        node = self.parse_and()
        while self.peek().kind == "kw" and self.peek().text == "or":
            self.take()
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self) -> tuple[Any, ...]:
        node = self.parse_not()
        while self.peek().kind == "kw" and self.peek().text == "and":
            self.take()
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self) -> tuple[Any, ...]:
        if self.peek().kind == "kw" and self.peek().text == "not":
            self.take()
            return ("not", self.parse_not())
        return self.parse_comparison()

    def parse_comparison(self) -> tuple[Any, ...]:
        left = self.parse_atom()
        token = self.peek()
        if token.kind == "op":
            self.take()
            return ("cmp", token.text, left, self.parse_atom())
        if token.kind == "kw" and token.text == "contains":
            self.take()
            return ("contains", left, self.parse_atom())
        return left

    def parse_atom(self) -> tuple[Any, ...]:
        token = self.take()
        if token.kind == "lparen":
            node = self.parse_or()
            self.expect("rparen", "« ) »")
            return node
        if token.kind == "number":
            return ("lit", float(token.text.replace(",", ".")))
        if token.kind == "string":
            return ("lit", token.text[1:-1])
        if token.kind == "kw" and token.text in ("true", "false"):
            return ("lit", token.text == "true")
        if token.kind == "kw" and token.text == "empty":
            self.expect("lparen", "« ( » après « vide »")
            name = self.expect("name", "un nom de champ")
            self.expect("rparen", "« ) »")
            self.names.add(name.text)
            return ("empty", name.text)
        if token.kind == "name":
            self.names.add(token.text)
            return ("var", token.text)
        if token.kind == "end":
            raise ConditionSyntaxError("condition incomplète (valeur attendue à la fin)")
        raise ConditionSyntaxError(f"valeur attendue en position {token.pos}{_found(token)}")


def _found(token: _Token) -> str:
    return " (fin de la condition)" if token.kind == "end" else f" (trouvé « {token.text} »)"


def parse_condition(text: str) -> Condition:
    """Parse a condition such as ``diabete == 'oui' et (age > 70 ou plaie contient 'talon')``.

    Operators: ``== != < <= > >=``, ``contient`` (a checklist holds an option), ``et``/``ou``/``non`` (or their
    English forms), ``vide(champ)``, parentheses; a bare field name is true when answered (checked, non-empty,
    non-zero).

    Raises:
        ConditionSyntaxError: French message with the position of the problem.
    """
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionSyntaxError(f"condition trop longue ({MAX_CONDITION_LENGTH} caractères au plus)")
    parser = _Parser(text)
    ast = parser.parse()
    return Condition(text, ast, frozenset(parser.names))


def _truthy(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() != "" and value not in ("non", "false")
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return len(value) > 0
    return bool(value)


def _eval(node: tuple[Any, ...], values: Mapping[str, object]) -> object:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "var":
        return values.get(node[1])
    if kind == "empty":
        return not _truthy(values.get(node[1]))
    if kind == "not":
        return not _truthy(_eval(node[1], values))
    if kind == "and":
        return _truthy(_eval(node[1], values)) and _truthy(_eval(node[2], values))
    if kind == "or":
        return _truthy(_eval(node[1], values)) or _truthy(_eval(node[2], values))
    if kind == "contains":
        container = _eval(node[1], values)
        item = _eval(node[2], values)
        if isinstance(container, (list, tuple, set, frozenset)):
            return item in container
        if isinstance(container, str) and isinstance(item, str):
            return item.lower() in container.lower()
        return False
    if kind == "cmp":
        return _compare(node[1], _eval(node[2], values), _eval(node[3], values))
    raise AssertionError(kind)


def _compare(op: str, left: object, right: object) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        left, right = _truthy(left), _truthy(right)
    elif isinstance(left, (int, float)) or isinstance(right, (int, float)):
        try:
            left = float(left) if left is not None and left != "" else None  # type: ignore[arg-type]
            right = float(right) if right is not None and right != "" else None  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return op == "!="
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    if isinstance(left, float) and isinstance(right, float):
        a: float | str = left
        b: float | str = right
    elif isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    else:
        return False
    ordered = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}  # type: ignore[operator]
    return ordered[op]


# ------------------------------------------------------------------------------------------------------------
# Templates
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of a choice or checklist field; ``points`` count in scores."""

    value: str
    label: str
    points: float | None = None


@dataclass(frozen=True, slots=True)
class Band:
    """An interpretation band of a score: totals ≤ ``max`` (and ≥ the previous band) get ``label``."""

    max: float
    label: str
    level: str = "info"  # info, warning, alert


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a template."""

    id: str
    type: FieldType
    label: str
    help: str = ""
    required: bool = False
    visible_if: Condition | None = None
    multiline: bool = False
    max_length: int = 2000
    unit: str = ""
    other_units: tuple[tuple[str, float], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    decimals: int = 1
    options: tuple[Option, ...] = ()
    sum_of: tuple[str, ...] = ()
    bands: tuple[Band, ...] = ()
    function: str = ""
    args: tuple[str, ...] = ()
    accept: tuple[str, ...] = ()
    allow_future: bool = False

    @property
    def is_input(self) -> bool:
        """The user fills this field."""
        return self.type in INPUT_TYPES

    def option_label(self, value: str) -> str:
        """Label of the option ``value`` (the value itself when unknown)."""
        return next((o.label for o in self.options if o.value == value), value)

    def band_for(self, total: float) -> Band | None:
        """The interpretation band of a score total."""
        for band in sorted(self.bands, key=lambda b: b.max):
            if total <= band.max:
                return band
        return None


@dataclass(frozen=True, slots=True)
class FormTemplate:
    """A versioned observation template. ``key`` + ``version`` identify it for ever."""

    key: str
    version: int
    title: str
    fields: tuple[FieldSpec, ...]
    professions: tuple[str, ...] = ()
    description: str = ""
    source: str = ""
    summary_fields: tuple[str, ...] = ()
    kind: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def field(self, field_id: str) -> FieldSpec:
        """The field ``field_id``. Raises KeyError."""
        for spec in self.fields:
            if spec.id == field_id:
                return spec
        raise KeyError(field_id)

    @property
    def ref(self) -> str:
        """``key@version``, as stored with each observation."""
        return f"{self.key}@{self.version}"


COMPUTE_FUNCTIONS: dict[str, tuple[int, str]] = {
    "terme_depuis_ddr": (1, "date présumée d'accouchement depuis la date des dernières règles"),
    "terme_depuis_ddg": (1, "date présumée d'accouchement depuis la date de début de grossesse"),
    "age_gestationnel": (2, "âge gestationnel (SA + jours) à la date de la visite, depuis la DDG ou la DDR"),
    "age_gestationnel_ddr": (2, "âge gestationnel (SA + jours) à la date de la visite, depuis la DDR"),
    "surface": (2, "surface (longueur × largeur)"),
    "grade_podologique": (4, "grade du risque podologique du pied diabétique (0 à 3)"),
    "imc": (2, "indice de masse corporelle (poids en kg, taille en cm)"),
}
"""Pure functions a computed field may call: name → (number of arguments, French description)."""

_FIELD_KEYS = {
    "id",
    "type",
    "label",
    "help",
    "required",
    "visible_if",
    "multiline",
    "max_length",
    "unit",
    "other_units",
    "min",
    "max",
    "decimals",
    "options",
    "sum",
    "bands",
    "function",
    "args",
    "accept",
    "allow_future",
}
_TEMPLATE_KEYS = {"key", "version", "title", "fields", "professions", "description", "source", "summary", "kind"}


def parse_template(data: object, *, origin: str = "modèle") -> FormTemplate:
    """Check a template (decoded JSON) against the template schema and build it.

    Every problem is collected (unknown keys, wrong types, unknown field references, bad conditions, cycles)
    so that the author sees them all at once.

    Raises:
        TemplateError: French messages, one per problem, each saying where (``champs[3] « pouls »``).
    """
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise TemplateError(origin, ["le fichier doit contenir un objet JSON ({ … })."])
    title = data.get("title") if isinstance(data.get("title"), str) else origin
    title = str(title)
    for key in sorted(set(data) - _TEMPLATE_KEYS):
        problems.append(f"clé inconnue « {key} » (clés admises : {', '.join(sorted(_TEMPLATE_KEYS))}).")
    key = data.get("key")
    if not isinstance(key, str) or not _TEMPLATE_KEY.match(key):
        problems.append("« key » : identifiant attendu (minuscules, chiffres, . _ -), par exemple « ide.braden ».")
        key = "?"
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append("« version » : entier positif attendu.")
        version = 1
    if not isinstance(data.get("title"), str) or not str(data.get("title")).strip():
        problems.append("« title » : titre du formulaire obligatoire.")
    professions = _str_list(data.get("professions", []), "« professions »", problems)
    raw_fields = data.get("fields")
    fields: list[FieldSpec] = []
    if not isinstance(raw_fields, list) or not raw_fields:
        problems.append("« fields » : liste de champs non vide attendue.")
        raw_fields = []
    if len(raw_fields) > MAX_FIELDS:
        problems.append(f"« fields » : {MAX_FIELDS} champs au plus.")
    seen: set[str] = set()
    for index, raw in enumerate(raw_fields[:MAX_FIELDS]):
        spec = _parse_field(raw, index, problems)
        if spec is None:
            continue
        if spec.id in seen:
            problems.append(f"champ n° {index + 1} : identifiant « {spec.id} » déjà utilisé.")
            continue
        seen.add(spec.id)
        fields.append(spec)
    summary = _str_list(data.get("summary", []), "« summary »", problems)
    if not problems:
        _check_references(fields, summary, problems)
    if not problems:
        cycle = find_cycle(fields)
        if cycle:
            problems.append("cycle dans les dépendances des champs : " + " → ".join(cycle) + ".")
    if problems:
        raise TemplateError(title, problems)
    return FormTemplate(
        key=str(key),
        version=int(version),
        title=title.strip(),
        fields=tuple(fields),
        professions=tuple(professions),
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
        summary_fields=tuple(summary),
        kind=str(data.get("kind", "")),
        raw=dict(data),
    )


def _str_list(value: object, where: str, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where} : liste de textes attendue.")
        return []
    return [str(v) for v in value]


def _parse_field(raw: object, index: int, problems: list[str]) -> FieldSpec | None:
    where = f"champ n° {index + 1}"
    if not isinstance(raw, Mapping):
        problems.append(f"{where} : objet attendu.")
        return None
    fid = raw.get("id")
    if isinstance(fid, str):
        where = f"champ n° {index + 1} « {fid} »"
    if not isinstance(fid, str) or not _ID.match(fid):
        problems.append(f"{where} : « id » attendu (minuscules, chiffres et _, commence par une lettre).")
        return None
    for key in sorted(set(raw) - _FIELD_KEYS):
        problems.append(f"{where} : clé inconnue « {key} ».")
    try:
        ftype = FieldType(str(raw.get("type")))
    except ValueError:
        admitted = ", ".join(t.value for t in FieldType)
        problems.append(f"{where} : type « {raw.get('type')} » inconnu (types admis : {admitted}).")
        return None
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        problems.append(f"{where} : « label » (libellé) obligatoire.")
        label = fid
    before = len(problems)
    condition: Condition | None = None
    if raw.get("visible_if") is not None:
        source = raw.get("visible_if")
        if not isinstance(source, str):
            problems.append(f"{where} : « visible_if » doit être un texte.")
        else:
            try:
                condition = parse_condition(source)
            except ConditionSyntaxError as exc:
                problems.append(f"{where} : condition « {source} » invalide : {exc}.")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        problems.append(f"{where} : « required » vaut true ou false.")
        required = False
    if required and ftype not in INPUT_TYPES:
        problems.append(f"{where} : un champ de type {ftype.label_fr} ne peut pas être obligatoire.")
    options: list[Option] = []
    if ftype in (FieldType.CHOICE, FieldType.CHECKLIST):
        raw_options = raw.get("options")
        if not isinstance(raw_options, list) or not raw_options:
            problems.append(f"{where} : « options » (liste non vide) obligatoire pour un champ {ftype.label_fr}.")
            raw_options = []
        values: set[str] = set()
        for position, item in enumerate(raw_options):
            option = _parse_option(item, f"{where}, option n° {position + 1}", problems)
            if option is None:
                continue
            if option.value in values:
                problems.append(f"{where} : option « {option.value} » en double.")
            values.add(option.value)
            options.append(option)
    elif "options" in raw:
        problems.append(f"{where} : « options » n'a de sens que pour un choix ou une liste à cocher.")
    minimum = _number(raw.get("min"), f"{where} : « min »", problems)
    maximum = _number(raw.get("max"), f"{where} : « max »", problems)
    if minimum is not None and maximum is not None and minimum > maximum:
        problems.append(f"{where} : « min » ({minimum:g}) est supérieur à « max » ({maximum:g}).")
    unit = raw.get("unit", "")
    if not isinstance(unit, str):
        problems.append(f"{where} : « unit » doit être un texte.")
        unit = ""
    other_units: list[tuple[str, float]] = []
    raw_units = raw.get("other_units", {})
    if not isinstance(raw_units, Mapping) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in raw_units.values()
    ):
        problems.append(f'{where} : « other_units » : unité → facteur de conversion positif (ex. {{"mm": 0.1}}).')
    else:
        other_units = [(str(k), float(v)) for k, v in raw_units.items()]
    if ftype is not FieldType.NUMBER and ((unit and ftype is not FieldType.COMPUTED) or other_units):
        problems.append(f"{where} : une unité n'a de sens que pour un nombre.")
    decimals = raw.get("decimals", 1)
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 4:
        problems.append(f"{where} : « decimals » entre 0 et 4.")
        decimals = 1
    max_length = raw.get("max_length", 2000)
    if not isinstance(max_length, int) or isinstance(max_length, bool) or not 1 <= max_length <= MAX_TEXT_LENGTH:
        problems.append(f"{where} : « max_length » entre 1 et {MAX_TEXT_LENGTH}.")
        max_length = 2000
    sum_of: list[str] = []
    bands: list[Band] = []
    if ftype is FieldType.SCORE:
        sum_of = _str_list(raw.get("sum"), f"{where} : « sum »", problems)
        if not sum_of:
            problems.append(f"{where} : un score additionne au moins un champ (« sum »).")
        for position, item in enumerate(raw.get("bands", []) if isinstance(raw.get("bands", []), list) else []):
            if (
                not isinstance(item, Mapping)
                or not isinstance(item.get("label"), str)
                or _number(item.get("max"), "", []) is None
            ):
                problems.append(f"{where}, interprétation n° {position + 1} : « max » (nombre) et « label » attendus.")
                continue
            level = str(item.get("level", "info"))
            if level not in ("info", "warning", "alert"):
                problems.append(f"{where}, interprétation n° {position + 1} : « level » = info, warning ou alert.")
            bands.append(Band(float(item["max"]), str(item["label"]), level))
    function = ""
    args: list[str] = []
    if ftype is FieldType.COMPUTED:
        function = str(raw.get("function", ""))
        args = _str_list(raw.get("args", []), f"{where} : « args »", problems)
        if function not in COMPUTE_FUNCTIONS:
            problems.append(
                f"{where} : fonction « {function} » inconnue (admises : {', '.join(sorted(COMPUTE_FUNCTIONS))})."
            )
        elif len(args) != COMPUTE_FUNCTIONS[function][0]:
            problems.append(f"{where} : « {function} » prend {COMPUTE_FUNCTIONS[function][0]} argument(s).")
    accept = _str_list(raw.get("accept", []), f"{where} : « accept »", problems)
    allow_future = bool(raw.get("allow_future", False))
    if len(problems) > before:
        return None
    return FieldSpec(
        id=fid,
        type=ftype,
        label=str(label).strip(),
        help=str(raw.get("help", "")),
        required=required,
        visible_if=condition,
        multiline=bool(raw.get("multiline", False)),
        max_length=int(max_length),
        unit=str(unit),
        other_units=tuple(other_units),
        minimum=minimum,
        maximum=maximum,
        decimals=int(decimals),
        options=tuple(options),
        sum_of=tuple(sum_of),
        bands=tuple(bands),
        function=function,
        args=tuple(args),
        accept=tuple(accept),
        allow_future=allow_future,
    )


def _parse_option(item: object, where: str, problems: list[str]) -> Option | None:
    if isinstance(item, str) and item.strip():
        return Option(item, item)
    if not isinstance(item, Mapping) or not isinstance(item.get("value"), str) or not str(item["value"]).strip():
        problems.append(f"{where} : « value » (texte) attendu.")
        return None
    points = _number(item.get("points"), f"{where} : « points »", problems)
    label = item.get("label", item["value"])
    return Option(str(item["value"]), str(label), points)


def _number(value: object, where: str, problems: list[str]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if where:
            problems.append(f"{where} doit être un nombre.")
        return None
    return float(value)


def _check_references(fields: Sequence[FieldSpec], summary: Sequence[str], problems: list[str]) -> None:
    by_id = {f.id: f for f in fields}
    for spec in fields:
        where = f"champ « {spec.id} »"
        if spec.visible_if is not None:
            for name in sorted(spec.visible_if.names):
                if name not in by_id:
                    problems.append(f"{where} : la condition cite le champ inconnu « {name} ».")
        for ref in spec.sum_of:
            target = by_id.get(ref)
            if target is None:
                problems.append(f"{where} : le score additionne le champ inconnu « {ref} ».")
            elif target.type not in (FieldType.CHOICE, FieldType.CHECKLIST, FieldType.NUMBER, FieldType.SCORE):
                problems.append(f"{where} : « {ref} » ({target.type.label_fr}) ne peut pas être additionné.")
            elif target.type in (FieldType.CHOICE, FieldType.CHECKLIST) and any(
                o.points is None for o in target.options
            ):
                problems.append(f"{where} : chaque option de « {ref} » doit avoir des « points ».")
        for ref in spec.args:
            if ref not in by_id:
                problems.append(f"{where} : le calcul utilise le champ inconnu « {ref} ».")
    for ref in summary:
        if ref not in by_id:
            problems.append(f"« summary » cite le champ inconnu « {ref} ».")


def dependencies(spec: FieldSpec) -> set[str]:
    """Fields whose answers this field needs (its condition, the terms of its score, its arguments)."""
    deps = set(spec.sum_of) | set(spec.args)
    if spec.visible_if is not None:
        deps |= spec.visible_if.names
    return deps


def find_cycle(fields: Iterable[FieldSpec]) -> list[str]:
    """A dependency cycle among fields, as ``[a, b, a]``; empty when there is none."""
    graph = {f.id: sorted(dependencies(f)) for f in fields}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt in graph and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return []


# ------------------------------------------------------------------------------------------------------------
# Filling a form
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    """A photo or file attached to an answer: stored by content hash next to the record."""

    name: str
    media_type: str
    sha256: str
    size: int

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"name": self.name, "media_type": self.media_type, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True, slots=True)
class FormEntry:
    """Checked answers of a form: ``values`` holds only visible fields, normalised, plus derived values."""

    template_key: str
    template_version: int
    values: dict[str, object]

    def summary(self, template: FormTemplate) -> str:
        """One line for the timeline: the summary fields (or the first answers) with their labels."""
        return summarize(template, self.values)


_NUMBER = re.compile(r"^\s*([+-]?\d+(?:[.,]\d+)?)\s*(.*?)\s*$")
_DATE_FR = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_number(spec: FieldSpec, raw: object) -> float:
    """Parse a typed number (``38,5``, ``38.5 °C``, ``25 mm``) into the field's unit.

    Raises:
        ValueError: French message (not a number, unknown unit, out of range).
    """
    if isinstance(raw, bool):
        raise ValueError(f"{spec.label} : nombre attendu.")
    if isinstance(raw, (int, float)):
        value, unit_text = float(raw), ""
    else:
        match = _NUMBER.match(str(raw))
        if match is None:
            raise ValueError(f"{spec.label} : nombre attendu (par exemple 12,5{' ' + spec.unit if spec.unit else ''}).")
        value, unit_text = float(match.group(1).replace(",", ".")), match.group(2)
    if unit_text:
        if _same_unit(unit_text, spec.unit):
            pass
        else:
            factor = next((f for u, f in spec.other_units if _same_unit(unit_text, u)), None)
            if factor is None:
                accepted = [spec.unit, *(u for u, _ in spec.other_units)] if spec.unit else []
                hint = f" (unité attendue : {', '.join(accepted)})" if accepted else " (ce champ n'a pas d'unité)"
                raise ValueError(f"{spec.label} : unité « {unit_text} » non reconnue{hint}.")
            value *= factor
    value = round(value, spec.decimals)
    unit = f" {spec.unit}" if spec.unit else ""
    if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
        low = "" if spec.minimum is None else f"{_fmt(spec.minimum)}"
        high = "" if spec.maximum is None else f"{_fmt(spec.maximum)}"
        if low and high:
            bounds = f"entre {low} et {high}{unit}"
        elif low:
            bounds = f"au moins {low}{unit}"
        else:
            bounds = f"au plus {high}{unit}"
        raise ValueError(f"{spec.label} : {_fmt(value)}{unit} est hors limites (valeur admise {bounds}).")
    return value


def _same_unit(a: str, b: str) -> bool:
    def norm(u: str) -> str:
        return u.strip().lower().replace("°", "").replace(" ", "").replace("²", "2").replace("/", "")

    return bool(b) and norm(a) == norm(b)


def _fmt(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def format_number(spec: FieldSpec, value: object) -> str:
    """French display of a stored number with its unit."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    return _fmt(float(value)) + (f" {spec.unit}" if spec.unit else "")


def parse_date(spec: FieldSpec, raw: object, today: dt.date) -> dt.date:
    """Parse ``JJ/MM/AAAA`` (or ISO from storage).

    Raises:
        ValueError: French message.
    """
    if isinstance(raw, dt.date):
        day = raw
    else:
        text = str(raw).strip()
        if _ISO.match(text):
            day = dt.date.fromisoformat(text)
        else:
            match = _DATE_FR.match(text)
            if match is None:
                raise ValueError(f"{spec.label} : date attendue au format JJ/MM/AAAA.")
            d, m, y = (int(g) for g in match.groups())
            try:
                day = dt.date(y, m, d)
            except ValueError:
                raise ValueError(f"{spec.label} : cette date n'existe pas ({text}).") from None
    if day.year < 1900:
        raise ValueError(f"{spec.label} : date trop ancienne.")
    if day > today and not spec.allow_future:
        raise ValueError(f"{spec.label} : date dans le futur ({day.strftime('%d/%m/%Y')}).")
    return day


def visible_fields(template: FormTemplate, values: Mapping[str, object]) -> set[str]:
    """Ids of the fields shown for these answers (a field hidden by its condition hides nothing else)."""
    shown: set[str] = set()
    for spec in template.fields:
        if spec.visible_if is None or spec.visible_if.evaluate(values):
            shown.add(spec.id)
    return shown


def _blank(raw: object) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return raw.strip() == ""
    if isinstance(raw, (list, tuple, set, dict)):
        return len(raw) == 0
    return False


def fill(template: FormTemplate, raw: Mapping[str, object], today: dt.date) -> FormEntry:
    """Check and normalise the answers typed in a form, then compute scores and derived values.

    Hidden fields are dropped (their answers are not kept), required fields are required only when shown.

    Raises:
        InvalidInput: keyed by field id, French messages (every problem at once).
    """
    errors: dict[str, str] = {}
    values: dict[str, object] = {}
    # Conditions are evaluated on normalised values: parse inputs first, then decide visibility.
    parsed: dict[str, object] = {}
    for spec in template.fields:
        if not spec.is_input:
            continue
        value = raw.get(spec.id)
        if _blank(value):
            continue
        try:
            parsed[spec.id] = _parse_input(spec, value, today)
        except ValueError as exc:
            errors[spec.id] = str(exc)
    parsed = compute(template, parsed)
    shown = visible_fields(template, parsed)
    for spec in template.fields:
        if spec.id not in shown:
            errors.pop(spec.id, None)
            continue
        if spec.id in parsed:
            values[spec.id] = parsed[spec.id]
        elif spec.required and spec.id not in errors:
            errors[spec.id] = f"{spec.label} : réponse obligatoire."
    if errors:
        raise InvalidInput(errors)
    return FormEntry(template.key, template.version, values)


def preview(template: FormTemplate, raw: Mapping[str, object], today: dt.date) -> dict[str, object]:
    """Answers that parse (the others left out) with scores and computed values: for display while typing."""
    parsed: dict[str, object] = {}
    for spec in template.fields:
        value = raw.get(spec.id)
        if spec.is_input and not _blank(value):
            try:
                parsed[spec.id] = _parse_input(spec, value, today)
            except ValueError:
                continue
    return compute(template, parsed)


def _parse_input(spec: FieldSpec, value: object, today: dt.date) -> object:
    if spec.type is FieldType.TEXT:
        text = str(value)
        if len(text) > spec.max_length:
            raise ValueError(f"{spec.label} : {spec.max_length} caractères au plus ({len(text)} saisis).")
        if any(ord(ch) < 32 and ch not in "\n\t\r" for ch in text):
            raise ValueError(f"{spec.label} : caractères de contrôle non admis.")
        return text.strip() if not spec.multiline else text.rstrip()
    if spec.type is FieldType.NUMBER:
        return parse_number(spec, value)
    if spec.type is FieldType.DATE:
        return parse_date(spec, value, today).isoformat()
    if spec.type is FieldType.CHOICE:
        text = str(value)
        if text not in {o.value for o in spec.options}:
            raise ValueError(f"{spec.label} : choix « {text} » inconnu.")
        return text
    if spec.type is FieldType.CHECKLIST:
        items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple, set)) else None
        if items is None:
            raise ValueError(f"{spec.label} : liste de cases attendue.")
        known = [o.value for o in spec.options]
        unknown = [str(i) for i in items if str(i) not in known]
        if unknown:
            raise ValueError(f"{spec.label} : case(s) inconnue(s) : {', '.join(unknown)}.")
        return [v for v in known if v in {str(i) for i in items}]
    if spec.type is FieldType.ATTACHMENT:
        items = value if isinstance(value, list) else [value]
        checked: list[dict[str, object]] = []
        for item in items:
            if isinstance(item, Attachment):
                item = item.as_dict()
            if not isinstance(item, Mapping) or not re.fullmatch(r"[0-9a-f]{64}", str(item.get("sha256", ""))):
                raise ValueError(f"{spec.label} : pièce jointe invalide.")
            media = str(item.get("media_type", ""))
            if spec.accept and media not in spec.accept:
                raise ValueError(f"{spec.label} : type de fichier « {media} » non admis ({', '.join(spec.accept)}).")
            checked.append(dict(item))
        return checked
    raise AssertionError(spec.type)


def compute(template: FormTemplate, values: Mapping[str, object]) -> dict[str, object]:
    """Add score totals and computed values to ``values`` (in dependency order; templates have no cycle)."""
    result = dict(values)
    pending = [f for f in template.fields if f.type in (FieldType.SCORE, FieldType.COMPUTED)]
    by_id = {f.id: f for f in template.fields}
    for _ in range(len(pending) + 1):
        if not pending:
            break
        later: list[FieldSpec] = []
        for spec in pending:
            if any(dep in {p.id for p in pending} and dep != spec.id for dep in (*spec.sum_of, *spec.args)):
                later.append(spec)
                continue
            value = _score(spec, by_id, result) if spec.type is FieldType.SCORE else _computed(spec, result)
            if value is None:
                result.pop(spec.id, None)
            else:
                result[spec.id] = value
        pending = later
    return result


def _score(spec: FieldSpec, by_id: Mapping[str, FieldSpec], values: Mapping[str, object]) -> float | None:
    total = 0.0
    answered = 0
    for ref in spec.sum_of:
        target = by_id[ref]
        value = values.get(ref)
        if value is None:
            continue
        if target.type is FieldType.CHOICE:
            points = next((o.points for o in target.options if o.value == value), None)
            total += points or 0.0
        elif target.type is FieldType.CHECKLIST and isinstance(value, list):
            total += sum(o.points or 0.0 for o in target.options if o.value in value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            total += float(value)
        answered += 1
    if answered < len(spec.sum_of):
        return None  # an incomplete score is not a score
    return total


def _computed(spec: FieldSpec, values: Mapping[str, object]) -> object | None:
    args = [values.get(a) for a in spec.args]
    if any(a is None for a in args):
        return None
    return COMPUTERS[spec.function](*args)


def _as_date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def term_from_lmp(lmp: dt.date) -> dt.date:
    """Date présumée d'accouchement from the last menstrual period: LMP + 14 days + 9 months (= 41 SA)."""
    return add_months(lmp + dt.timedelta(days=14), 9)


def term_from_conception(conception: dt.date) -> dt.date:
    """Date présumée d'accouchement from the date of conception (début de grossesse, e.g. from ultrasound)."""
    return add_months(conception, 9)


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day ``months`` later (the last day of the month when it does not exist)."""
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError(day)


def gestational_age(conception: dt.date, on: dt.date) -> tuple[int, int]:
    """Semaines d'aménorrhée + days on ``on`` (SA count from conception + 14 days)."""
    days = (on - conception).days + 14
    return days // 7, days % 7


def _term_lmp(lmp: object) -> str:
    return term_from_lmp(_as_date(lmp)).isoformat()


def _term_conception(ddg: object) -> str:
    return term_from_conception(_as_date(ddg)).isoformat()


def _ga(ddg: object, visit: object) -> str:
    weeks, days = gestational_age(_as_date(ddg), _as_date(visit))
    if weeks < 0:
        return ""
    return f"{weeks} SA + {days} j"


def _ga_lmp(lmp: object, visit: object) -> str:
    return _ga(_as_date(lmp) + dt.timedelta(days=14), visit)


def diabetic_foot_grade(neuropathy: bool, arteriopathy: bool, deformity: bool, ulcer_history: bool) -> int:
    """Grade of the podiatric risk of a diabetic foot (HAS 2007 / IWGDF classification, 0 to 3).

    0: no sensory neuropathy; 1: isolated neuropathy; 2: neuropathy with arteriopathy or foot deformity;
    3: history of ulceration or amputation.
    """
    if ulcer_history:
        return 3
    if neuropathy and (arteriopathy or deformity):
        return 2
    if neuropathy:
        return 1
    return 0


def _grade(neuropathy: object, arteriopathy: object, deformity: object, ulcer: object) -> float:
    return float(diabetic_foot_grade(neuropathy == "oui", arteriopathy == "oui", deformity == "oui", ulcer == "oui"))


def _area(length: object, width: object) -> float | None:
    if not isinstance(length, (int, float)) or not isinstance(width, (int, float)):
        return None
    return round(float(length) * float(width), 2)


def _bmi(weight: object, height: object) -> float | None:
    if not isinstance(weight, (int, float)) or not isinstance(height, (int, float)) or height <= 0:
        return None
    return round(float(weight) / (float(height) / 100) ** 2, 1)


COMPUTERS: dict[str, Callable[..., object]] = {
    "terme_depuis_ddr": _term_lmp,
    "terme_depuis_ddg": _term_conception,
    "age_gestationnel": _ga,
    "age_gestationnel_ddr": _ga_lmp,
    "grade_podologique": _grade,
    "surface": _area,
    "imc": _bmi,
}


def display_value(spec: FieldSpec, value: object) -> str:
    """French text of a stored answer (dates JJ/MM/AAAA, option labels, units, band of a score)."""
    if value is None or value == "":
        return ""
    if spec.type is FieldType.NUMBER:
        return format_number(spec, value)
    if spec.type is FieldType.DATE or (spec.type is FieldType.COMPUTED and spec.function.startswith("terme")):
        try:
            return _as_date(value).strftime("%d/%m/%Y")
        except ValueError:
            return str(value)
    if spec.type is FieldType.CHOICE:
        return spec.option_label(str(value))
    if spec.type is FieldType.CHECKLIST and isinstance(value, list):
        return ", ".join(spec.option_label(str(v)) for v in value)
    if spec.type is FieldType.SCORE and isinstance(value, (int, float)):
        band = spec.band_for(float(value))
        return _fmt(float(value)) + (f" ({band.label})" if band else "")
    if spec.type is FieldType.COMPUTED and isinstance(value, float):
        return _fmt(value) + (f" {spec.unit}" if spec.unit else "")
    if spec.type is FieldType.ATTACHMENT and isinstance(value, list):
        return ", ".join(str(item.get("name", "")) for item in value if isinstance(item, Mapping))
    return str(value)


def summarize(template: FormTemplate, values: Mapping[str, object], limit: int = 240) -> str:
    """One line: ``Title — label : value ; …`` over the summary fields (or the first answered ones)."""
    ids = list(template.summary_fields) or [f.id for f in template.fields if f.id in values][:4]
    parts: list[str] = []
    for fid in ids:
        if fid not in values:
            continue
        spec = template.field(fid)
        shown = display_value(spec, values[fid]).replace("\n", " ")
        if shown:
            parts.append(f"{spec.label} : {shown}")
    text = " ; ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"
