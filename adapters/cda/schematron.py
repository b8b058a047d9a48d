"""ISO Schematron runner (XPath 2.0 via elementpath on lxml trees) for the ANS CI-SIS schematrons.

Adapted from the project's reference runner (../shared/tools/schematron.py, see its SCHEMATRON.md): same
loading (includes, abstract patterns and rules, lets, phases) and evaluation; here documents are given as
already-parsed trees (the importer's hardened parser) and there is no command line.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import re
from pathlib import Path
from typing import Any, ClassVar, NamedTuple
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from elementpath import XPath2Parser, XPathContext, get_node_tree
from elementpath.xpath_nodes import AttributeNode
from lxml import etree

log = logging.getLogger("lgc.documents.schematron")

SCH = "http://purl.oclc.org/dsdl/schematron"
SEVERITY = {"info": "info", "information": "info", "warning": "warning", "warn": "warning"}
XML_PARSER = etree.XMLParser(remove_comments=True, remove_pis=True)  # schemas, value sets


class SchematronError(Exception):
    """A schema that cannot be loaded."""


def sch(name: str) -> str:
    return f"{{{SCH}}}{name}"


def tag(el: Any) -> str:
    """Local name of a Schematron element; '' for anything else."""
    return el.tag[len(SCH) + 2 :] if str(el.tag).startswith(sch("")) else ""


# ---------------------------------------------------------------------------------- loading
def resolve(base_dir: str, href: str) -> str | None:
    """Path of `href` relative to `base_dir`, matching each path component case-insensitively
    if need be (the kit is written on Windows: 'entrees' there means 'Entrees')."""
    path = os.path.normpath(os.path.join(base_dir, unquote(href)))
    if os.path.exists(path):
        return path
    current = os.sep
    for part in path.split(os.sep)[1:]:
        names = os.listdir(current) if os.path.isdir(current) else []
        current = next((os.path.join(current, n) for n in names if n.lower() == part.lower()), "")
        if not current:
            return None
    return current


def load_schema(path: str, _stack: tuple[str, ...] = ()) -> Any:
    """Parse a schema file and splice every sch:include in place, recursively.

    The root of the included file replaces the include element (a `schema` root is spliced as
    its children); relative hrefs resolve against the file that holds the include."""
    path = os.path.realpath(path)
    if path in _stack:
        raise SchematronError(f"include cycle through {path}")
    root = etree.parse(path, XML_PARSER).getroot()
    for inc in list(root.iter(sch("include"))):
        target = resolve(os.path.dirname(path), inc.get("href", ""))
        if target is None:
            raise SchematronError(f"{path}: included file not found: {inc.get('href')}")
        sub = load_schema(target, (*_stack, path))
        parent, pos = inc.getparent(), inc.getparent().index(inc)
        parent.remove(inc)
        for i, part in enumerate(list(sub) if tag(sub) == "schema" else [sub]):
            parent.insert(pos + i, part)
    return root


def instantiate(abstract: Any, params: dict[str, str]) -> Any:
    """Copy of an abstract pattern with `$name` replaced by the param value in every attribute
    (longest names first, and never inside a longer name: `$path_jdv` leaves `$path_jdv1`)."""
    body = copy.deepcopy(abstract)
    if params:
        names = "|".join(map(re.escape, sorted(params, key=len, reverse=True)))
        rx = re.compile(r"\$(" + names + r")(?![\w.\-])")
        for el in body.iter():
            for key, value in el.attrib.items():
                el.set(key, rx.sub(lambda m: params[m.group(1)], value))
    return body


def pattern_to_xpath(context: str) -> str:
    """An XSLT match pattern as an expression selecting, from the root, every node it matches.

    The pattern is split at its top-level '|'; absolute alternatives are kept and a relative one
    `a/b` (any `b` child of an `a`) becomes `//a/b`, so positional predicates stay per parent."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(context):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(context[start:i])
            start = i + 1
    parts = [p.strip() for p in [*parts, context[start:]] if p.strip()]
    return " | ".join(p if p.startswith("/") else "//" + p for p in parts)


# ------------------------------------------------------------------------------ compilation
class Check(NamedTuple):
    kind: str  # 'assert' or 'report'
    test: str
    role: str
    id: str
    message: list[Any]  # text pieces, and (xpath,) tuples for <value-of>/<name>


class Rule(NamedTuple):
    context: str
    items: list[Any]  # Let and Check, in document order (abstract rules expanded in place)


class Let(NamedTuple):
    name: str
    value: str


class Pattern(NamedTuple):
    id: str
    rules: list[Any]


def message_parts(el: Any) -> list[Any]:
    """Text of an assert/report; <value-of select> and <name [path]> kept as expressions."""
    parts = [el.text or ""]
    for child in el:
        if tag(child) == "value-of":
            parts.append((child.get("select", "''"),))
        elif tag(child) == "name":
            path = child.get("path")
            parts.append((f"name(({path})[1])" if path else "name()",))
        else:  # emph, dir, span, foreign markup
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    return parts


class Schema:
    """A Schematron schema reduced to its global lets and the active patterns' rules."""

    def __init__(self, path: str, phase: str | None = None) -> None:
        self.path = os.path.realpath(path)
        root = load_schema(self.path)
        if tag(root) != "schema":
            raise SchematronError(f"{path}: the root element is not sch:schema")
        for el in root.iter():  # names and ids are tokens: OPH-BRE has name="jdv_x "
            for key in {"id", "name", "is-a", "rule", "pattern", "prefix", "role"} & set(el.keys()):
                el.set(key, el.get(key).strip())
        self.ns = {k: v for k, v in root.nsmap.items() if k}  # fallback prefixes
        self.ns.update({n.get("prefix"): n.get("uri") for n in root.iter(sch("ns"))})
        self.abstract_rules = {r.get("id"): r for r in root.iter(sch("rule")) if r.get("abstract") == "true"}
        abstract = {p.get("id"): p for p in root.findall(sch("pattern")) if p.get("abstract") == "true"}
        # Schema- and pattern-level lets are global variables evaluated on the document node,
        # as in the XSLT skeleton; the ANS files rely on it (JDV paths live in one pattern).
        self.lets = [Let(v.get("name"), v.get("value")) for v in root.findall(sch("let"))]
        self.patterns: list[Pattern] = []
        for pat in root.findall(sch("pattern")):
            if pat.get("abstract") == "true":
                continue
            body = pat
            if pat.get("is-a"):
                if pat.get("is-a") not in abstract:
                    raise SchematronError(f"pattern {pat.get('id')}: no abstract pattern {pat.get('is-a')!r}")
                params = {p.get("name"): p.get("value", "") for p in pat.findall(sch("param"))}
                body = instantiate(abstract[pat.get("is-a")], params)
            self.lets += [Let(v.get("name"), v.get("value")) for v in body.findall(sch("let"))]
            rules = [self.compile_rule(r) for r in body.findall(sch("rule")) if r.get("abstract") != "true"]
            self.patterns.append(Pattern(pat.get("id") or f"#{len(self.patterns) + 1}", rules))
        self.phase = self.select_phase(root, phase)

    def select_phase(self, root: Any, phase: str | None) -> str:
        """Keep the patterns active in the phase (the default phase unless told otherwise)."""
        phases = {p.get("id"): p for p in root.iter(sch("phase"))}
        if not phase or phase == "#DEFAULT":
            phase = root.get("defaultPhase") or "#ALL"
        if phase == "#ALL":
            return phase
        if phase not in phases:
            raise SchematronError(f"unknown phase {phase!r}; phases: {sorted(phases)}")
        active = {a.get("pattern") for a in phases[phase].findall(sch("active"))}
        if active - {p.id for p in self.patterns}:
            log.warning("Schematron phase %s: no pattern %s", phase, sorted(active - {p.id for p in self.patterns}))
        self.lets += [Let(v.get("name"), v.get("value")) for v in phases[phase].findall(sch("let"))]
        self.patterns = [p for p in self.patterns if p.id in active]
        return phase

    def compile_rule(self, rule: Any, _seen: tuple[str, ...] = ()) -> Rule:
        """Flatten a rule into lets and checks, each `extends` expanded where it stands."""
        items: list[Any] = []
        for child in rule:
            if tag(child) == "let":
                items.append(Let(child.get("name"), child.get("value", "''")))
            elif tag(child) in ("assert", "report"):
                items.append(
                    Check(
                        tag(child),
                        child.get("test", "true()"),
                        child.get("role") or child.get("flag") or "",
                        child.get("id", ""),
                        message_parts(child),
                    )
                )
            elif tag(child) == "extends":
                target = child.get("rule")
                if target not in self.abstract_rules or target in _seen:
                    raise SchematronError(f"extends: unknown or cyclic abstract rule {target!r}")
                items += self.compile_rule(self.abstract_rules[target], (*_seen, target)).items
        return Rule(rule.get("context", ""), items)

    def expressions(self) -> list[str]:
        """Every XPath of the active patterns (for --compile-only)."""
        out = [v.value for v in self.lets]
        for rule in (r for p in self.patterns for r in p.rules):
            out.append(pattern_to_xpath(rule.context))
            for item in rule.items:
                out += (
                    [item.value]
                    if isinstance(item, Let)
                    else [item.test] + [p[0] for p in item.message if isinstance(p, tuple)]
                )
        return list(dict.fromkeys(out))


# ------------------------------------------------------------------------------- evaluation
class DocumentCache(dict[str, Any]):
    """Absolute URI -> elementpath document node, read on first use by fn:doc().  An unreadable
    file raises KeyError: fn:doc() then fails (FODC0002), fn:doc-available() returns false."""

    def __init__(self) -> None:
        super().__init__()
        self.missing: set[str] = set()  # URIs that could not be read
        self.last_missing = ""  # the latest one asked for

    def __missing__(self, uri: str) -> Any:
        if uri not in self.missing:
            path = url2pathname(urlparse(uri).path) if uri.startswith("file:") else uri
            try:
                path = resolve(os.path.dirname(path), os.path.basename(path)) or path
                self[uri] = get_node_tree(etree.parse(path, XML_PARSER), uri=uri)
                return self[uri]
            except (OSError, etree.XMLSyntaxError):
                self.missing.add(uri)
        self.last_missing = uri
        raise KeyError(uri)


class Parser(XPath2Parser):
    """elementpath's XPath 2.0 parser, also accepting a variable as a path step (`a/$v`):
    valid XPath 2.0 that the CANCER-D2LM files use and elementpath's parser refuses."""

    PATH_STEP_SYMBOLS = XPath2Parser.PATH_STEP_SYMBOLS | {"$"}


def location(node: Any) -> str:
    """A readable path to a node, e.g. /ClinicalDocument/component/section[2]/@code."""
    if isinstance(node, AttributeNode):
        return f"{location(node.parent)}/@{etree.QName(node.name).localname}"
    el, steps = getattr(node, "value", None), []
    while isinstance(el, etree._Element):
        step, parent = etree.QName(el).localname, el.getparent()
        same = [s for s in parent if s.tag == el.tag] if parent is not None else [el]
        steps.append(step + (f"[{same.index(el) + 1}]" if len(same) > 1 else ""))
        el = parent
    return "/" + "/".join(reversed(steps))


def finding(
    document: str,
    message: str,
    pattern: str = "",
    context: str = "",
    node: Any = None,
    check: Any = None,
    severity: str | None = None,
) -> dict[str, Any]:
    """One finding, as printed and as listed by --json."""
    role = check.role if check else ""
    return {
        "document": document,
        "pattern": pattern,
        "context": context,
        "location": "" if node is None else location(node),
        "kind": check.kind if check else "error",
        "role": role,
        "severity": severity or SEVERITY.get(role.lower(), "error"),
        "test": " ".join(check.test.split()) if check else "",
        "id": check.id if check else "",
        "message": " ".join(message.split()),
    }


def node_key(node: Any) -> Any:
    """Identity of a node within one document tree."""
    return (id(node.parent), node.name) if isinstance(node, AttributeNode) else id(node)


class Validator:
    # Textual fixes before parsing: XSLT's document() becomes fn:doc() (string arguments, as in
    # the ANS files); elementpath's resolve-QName() does not atomize an attribute argument.
    REWRITES: ClassVar[list[tuple[re.Pattern[str], str]]] = [
        (re.compile(r"(?<![\w.:\-])document\s*\("), "doc("),
        (re.compile(r"resolve-QName\(\s*(@[\w.:\-]+)\s*,"), r"resolve-QName(\1/string(),"),
    ]

    def __init__(self, schema: Schema, strict: bool = False) -> None:
        self.schema, self.strict = schema, strict
        # Value-set paths ('../jeuxDeValeurs/x.xml', 'include/voc-x.xml') are written relative
        # to the main schema file (where the compiled stylesheet sits), not to the included one.
        base_uri = Path(schema.path).parent.as_uri() + "/"
        # The codepoint collation explicitly: left unset, elementpath derives a locale collation from the
        # process locale (which Qt sets), and its locale-collation lock then deadlocks on nested
        # distinct-values() (seen with elementpath 5.1 once a QApplication exists). XPath 2.0's default is
        # the codepoint collation anyway.
        self.parser = Parser(
            namespaces=schema.ns,
            base_uri=base_uri,
            default_collation="http://www.w3.org/2005/xpath-functions/collation/codepoint",
        )
        self.documents = DocumentCache()
        self.cache: dict[str, Any] = {}  # xpath -> elementpath token (or the exception parsing raised)
        # rule context -> [libxml2 XPath or None, XPath 2.0 expression]: contexts that are plain
        # XPath 1.0 run in libxml2 (C), far faster than elementpath for their `//` scans.
        lxml_ns = {k: v for k, v in schema.ns.items() if k != "xml"}
        self.contexts: dict[str, list[Any]] = {}
        for rule in (r for p in schema.patterns for r in p.rules):
            xpath = pattern_to_xpath(rule.context)
            fast = None
            if "$" not in xpath and xpath != "/":
                with contextlib.suppress(etree.XPathError):
                    fast = etree.XPath(xpath, namespaces=lxml_ns)
            self.contexts[rule.context] = [fast, xpath]

    def compile(self, expr: str) -> Any:
        """The elementpath token of an expression, parsed once per schema."""
        if expr not in self.cache:
            try:
                source = expr
                for rx, replacement in self.REWRITES:
                    source = rx.sub(replacement, source)
                self.cache[expr] = self.parser.parse(source)
            except Exception as exc:  # reported where it is used
                self.cache[expr] = exc
        if isinstance(self.cache[expr], Exception):
            raise self.cache[expr]
        return self.cache[expr]

    def evaluate(self, expr: str, base: XPathContext, item: Any, variables: dict[str, Any], as_: Any = None) -> Any:
        """Evaluate with `item` as context item; as_ is None (raw value), bool or str."""
        token = self.compile(expr)
        ctx = copy.copy(base)
        ctx.item, ctx.variables, ctx.position, ctx.size = item, variables, 1, 1
        value = token.evaluate(ctx)
        if as_ is bool:
            return token.boolean_value(value)
        if as_ is str:  # xsl:value-of: items joined by a space
            return " ".join(token.string_value(v) for v in (value if isinstance(value, list) else [value]))
        return value

    def select(self, context: str, tree: Any, base: Any, variables: dict[str, Any]) -> list[Any]:
        """Nodes matched by a rule context, as elementpath nodes."""
        entry = self.contexts[context]
        if entry[0] is not None:
            try:
                nodes = [self.to_node(base, r) for r in entry[0](tree)]
                if None not in nodes:
                    return nodes
            except etree.XPathError:
                pass
            entry[0] = None  # not plain XPath 1.0 after all: elementpath from now
        result = self.evaluate(entry[1], base, base.root, variables)
        return result if isinstance(result, list) else [result]

    @staticmethod
    def to_node(base: Any, result: Any) -> Any:
        """The elementpath node of an lxml XPath result (None unless element or attribute)."""
        if isinstance(result, etree._Element):
            return base.root.elements.get(result)
        if getattr(result, "is_attribute", False):
            parent = base.root.elements.get(result.getparent())
            return next(
                (a for a in (parent.attributes if parent is not None else ()) if a.name == result.attrname), None
            )
        return None

    def explain(self, exc: Exception) -> tuple[str, str]:
        """Message and severity of a dynamic error.  A value-set file missing from the kit
        leaves the check undecided: a warning (an error with --strict), not a document fault."""
        if "Error retrieving resource" in str(exc) and self.documents.last_missing:
            name = os.path.basename(self.documents.last_missing)
            if not self.strict:
                return f"NOT CHECKED, file missing from the kit ({name}): {exc}", "warning"
            return f"file missing from the kit ({name}): {exc}", "error"
        return f"XPath error: {exc}", "error"

    def validate(self, tree: Any, name: str = "document") -> list[dict[str, Any]]:
        """Findings for one document: failed asserts, fired reports, evaluation errors."""
        base = XPathContext(tree)  # elementpath node tree, built once per document
        base.documents = self.documents
        findings: list[dict[str, Any]] = []

        def add(message: str, *args: Any, **kwargs: Any) -> None:
            findings.append(finding(name, message, *args, **kwargs))

        variables: dict[str, Any] = {}
        for let in self.schema.lets:
            try:
                variables[let.name] = self.evaluate(let.value, base, base.root, variables)
            except Exception as exc:
                message, severity = self.explain(exc)
                add(f"let ${let.name}: {message}", "(schema)", severity=severity)
        for pattern in self.schema.patterns:
            fired: set[Any] = set()  # a node is handled by the first rule matching it
            for rule in pattern.rules:
                try:
                    nodes = self.select(rule.context, tree, base, variables)
                except Exception as exc:
                    message, severity = self.explain(exc)
                    add(f"context: {message}", pattern.id, rule.context, severity=severity)
                    continue
                for node in nodes:
                    if node_key(node) not in fired:
                        fired.add(node_key(node))
                        self.fire(pattern.id, rule, node, base, dict(variables), add)
        return findings

    def fire(self, pattern: str, rule: Rule, node: Any, base: Any, variables: dict[str, Any], add: Any) -> None:
        """Run a rule's lets and checks, in order, with `node` as the context item."""
        for item in rule.items:
            try:
                if isinstance(item, Let):
                    variables[item.name] = self.evaluate(item.value, base, node, variables)
                elif self.evaluate(item.test, base, node, variables, bool) == (item.kind == "report"):
                    add(
                        "".join(
                            p if isinstance(p, str) else self.evaluate(p[0], base, node, variables, str)
                            for p in item.message
                        ),
                        pattern,
                        rule.context,
                        node,
                        item,
                    )
            except Exception as exc:
                message, severity = self.explain(exc)
                if isinstance(item, Let):  # later checks would need the variable
                    add(f"let ${item.name}: {message}", pattern, rule.context, node, severity=severity)
                    return
                add(message, pattern, rule.context, node, item, severity)
