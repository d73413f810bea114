"""The tables, joins and column lineage of one SQL query or view definition, read with sqlglot.

Each query is parsed once, in the source's dialect; names are then resolved in one pass over the tree:
aliases, CTEs, derived tables, LATERAL and correlated subqueries lead back to real tables. With a
``schema`` (table -> column names) unqualified columns of multi-table queries, ``SELECT *`` and
``INSERT`` without a column list resolve too; without one they are left out (best effort). sqlglot is
imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Union

from airflow_provider_ingest.errors import ConfigurationError, InputError

if TYPE_CHECKING:
    from sqlglot import exp

QueryType = Literal["select", "insert", "update", "delete", "merge", "create_table_as", "create_view", "other"]

DIALECTS = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}
"""The project's SQLAlchemy backend names and service types (lower-cased), and sqlglot's dialect for each."""
_WRITES: dict[str, QueryType] = {"Insert": "insert", "Update": "update", "Delete": "delete", "Merge": "merge"}
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


class _WithoutQueryText(logging.Filter):
    """Drops sqlglot's "contains unsupported syntax" warning: it quotes the statement, which may hold a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "contains unsupported syntax" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_WithoutQueryText())


class QueryParseError(InputError):
    """A query sqlglot cannot parse, or more than one statement; the message says why, never quoting the query."""


@dataclass(frozen=True, slots=True)
class TableName:
    """A real table or view: database, schema and name, the defaults applied where the query leaves them out."""

    database: str | None
    schema: str | None
    name: str

    def sort_key(self) -> tuple[str, str, str]:
        return (self.database or "", self.schema or "", self.name)


@dataclass(frozen=True, slots=True)
class ColumnName:
    table: TableName
    column: str

    def sort_key(self) -> tuple[tuple[str, str, str], str]:
        return (self.table.sort_key(), self.column)


@dataclass(frozen=True, slots=True)
class JoinPair:
    """Two columns a query joins on (``left`` sorts first), each resolved to its real table."""

    left: ColumnName
    right: ColumnName


@dataclass(frozen=True, slots=True)
class ColumnLineage:
    """A written column and the source columns its value is computed from."""

    target: ColumnName
    sources: tuple[ColumnName, ...]


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """What one query reads and writes; tuples sorted, so equal queries give equal results."""

    query_type: QueryType
    source_tables: tuple[TableName, ...]
    target_tables: tuple[TableName, ...]
    joins: tuple[JoinPair, ...]
    column_lineage: tuple[ColumnLineage, ...]


Schema = Mapping[TableName, Sequence[str]]
"""Column names of known tables, as the catalog has them."""


def sqlglot_dialect(dialect: str) -> str:
    """sqlglot's name for a SQLAlchemy backend name or service type (``postgresql``, ``MariaDB``...)."""
    try:
        return DIALECTS[dialect.lower()]
    except KeyError:
        raise ConfigurationError(
            f"no SQL dialect for {dialect!r}: the query parser reads {', '.join(sorted(DIALECTS))}"
        ) from None


LITERAL_TOKENS = (
    "STRING",
    "NUMBER",
    "NATIONAL_STRING",
    "BIT_STRING",
    "HEX_STRING",
    "BYTE_STRING",
    "RAW_STRING",
    "HEREDOC_STRING",
    "UNICODE_STRING",
)
"""sqlglot's token types of literal values: quoted, dollar-quoted, escaped, national, bit, hex and raw strings, and
numbers."""
MASK = "?"
MAX_QUERY_CHARS = 256 * 1024
"""The longest query text masked or parsed: sqlglot takes about 270 bytes of memory a character (a bulk INSERT's
values); a longer text is cut there before masking, and not parsed."""
CUT = " /* cut: longer than 262,144 characters */"
"""What a text cut before masking ends with; the parser refuses such a text."""
_LITERAL_START = re.compile(r"['\"`]|\$(?!\d)|(?<![\w$])\d|--|/\*")
"""What may begin a literal: a quote, a ``$`` of dollar quoting, a digit not in a name or a ``$1`` placeholder, or
a comment, which may hold literals (a text normalized by pg_stat_statements or MySQL's digests has none, and is not
tokenized)."""
_COMMENT = re.compile(r"--|/\*|#")
"""What begins a comment (``#``: MySQL's); its text may hold literals."""
_COMMENT_LITERAL = re.compile(r"['\"]|\$\w*\$|\$\d|(?<![\w$])\.?\d")
"""Where the masked part of a comment's text begins: a quote, a dollar quote or a number. A comment is free text:
which quote pairs with which (an apostrophe in ``don't``), it does not say, so the rest of it is masked."""
_NOT_A_BOUND = re.compile(r"[^*/]+")
"""What of a comment's masked text goes: all but its ``*`` and ``/``, so that the tokenizer finds each comment's
end where it found it (in ``*/*``, nested comments' bounds may share a character)."""
_NOT_A_MARK = re.compile(r"[^*/\s#-]+")
"""What goes of text between tokens read as comments where their texts cannot be told apart: all but spaces and
what marks comments."""
SETTING = re.compile(r"\bSET\b", re.IGNORECASE)
"""A text that may give a setting a value written as a bare word (see ``_Masker._setting_values``): tokenized."""
_PLACEHOLDER = re.compile(r"\$\d+|[?:]\d+|\?")
_FIRST_LITERAL = re.compile(r"['\"$`]|(?<![\w$])\d")
_VALUE_BEFORE_COLON = re.compile(r"[\w)\]'\"`]")
_CLAUSES = frozenset(
    "AS LANGUAGE TRANSFORM WINDOW IMMUTABLE STABLE VOLATILE LEAKPROOF CALLED RETURNS RETURN STRICT EXTERNAL"  # noqa: SIM905
    " SECURITY PARALLEL COST ROWS SUPPORT SET RESET BEGIN OWNER RENAME DEPENDS".split()
)
"""Words that begin the clause after a function's ``SET k = v`` (PostgreSQL's CREATE and ALTER FUNCTION): where a
setting's value ends. Any other word is part of the value, masked with it (a value cut short would show the rest)."""
_EVENT_BEFORE = frozenset({"BEFORE", "AFTER", "OR", "OF", "ROLE", "USER", "GROUP", "DATABASE"})
"""What comes before ``UPDATE``, ``INSERT`` or ``REPLACE`` where it names a trigger's event, or is a name (``ALTER ROLE
insert SET ...``, ``IN DATABASE update``), not a statement."""
_OPENING = frozenset({"L_PAREN", "L_BRACKET", "L_BRACE"})
_CLOSING = frozenset({"R_PAREN", "R_BRACKET", "R_BRACE"})
_JOINS_MASK = frozenset("|&?")
"""What would read as one operator with a ``?`` before it (PostgreSQL's ``?::``, ``?|``, ``?&``, ``??``): a space
is put between."""


def mask_literals(sql: str, dialect: str) -> str:
    """The query with each literal value replaced by ``?``, as OpenMetadata masks the queries it stores: no password,
    key or personal value in a query goes further (details: :class:`_Masker`)."""
    name = sqlglot_dialect(dialect)
    mysql_comment = name == "mysql" and "#" in sql  # an operator in PostgreSQL's texts
    if _LITERAL_START.search(sql) is None and SETTING.search(sql) is None and not mysql_comment:
        return sql  # nothing to mask: no need to tokenize
    return _masker(name).mask(sql)


@cache
def _masker(name: str) -> _Masker:
    return _Masker(name)


class _Masker:
    """Masks the literals of one dialect's queries. A typed literal (``DATE '...'``) or strings written one after the
    other become one ``?``; placeholders (``$1``, ``:1``, ``?1``) stay; MySQL's executable comments are opened first
    (their text is run). Text the tokenizer cannot read is cut before its first literal and left as an open quote."""

    def __init__(self, name: str) -> None:
        from sqlglot import Dialect
        from sqlglot.parser import Parser
        from sqlglot.tokens import TokenType

        dialect = Dialect.get_or_raise(name)
        # sqlglot's own tokenizer takes the rest of CALL p('...') or REPLACE INTO ... as one string: no commands here
        self.tokenizer = type("MaskingTokenizer", (dialect.tokenizer_class,), {"COMMANDS": set()})(dialect=dialect)
        self.mysql = name == "mysql"
        self.literals = frozenset(getattr(TokenType, literal) for literal in LITERAL_TOKENS)
        self.types = frozenset(Parser.TYPE_TOKENS) - {TokenType.INTERVAL}  # INTERVAL ? DAY still parses
        self.kinds = TokenType
        self.assigning = frozenset({TokenType.UPDATE, TokenType.INSERT, TokenType.REPLACE, TokenType.LOAD})

    def mask(self, sql: str) -> str:
        if self.mysql:
            sql = _executable(sql).strip()
        cut = len(sql) > MAX_QUERY_CHARS
        sql = sql[:MAX_QUERY_CHARS]
        try:
            tokens = self.tokenizer.tokenize(sql)
        except Exception:  # sqlglot's TokenError quotes the text: not shown
            cuts = [(found.start(), "") for found in (_FIRST_LITERAL.search(sql),) if found]
            cuts += [(found.start(), "") for found in (_COMMENT.search(sql),) if found]  # may hold literals
            cuts += [(found.end(), " ") for found in (SETTING.search(sql),) if found]  # a bare value may follow
            at, space = min(cuts, default=(len(sql), None))
            return sql if space is None else sql[:at] + space + "'" + MASK
        spans: list[list[int]] = []
        values = self._setting_values(tokens, sql)
        last = -1
        for index, token in enumerate(tokens):
            if index <= last:
                continue
            if index in values:
                last = values[index]
                start, end = token.start, tokens[last].end + 1
            elif token.token_type not in self.literals or self._placeholder(tokens, index, sql):
                continue
            else:
                start, end = self._span(tokens, index)
            if spans and (spans[-1][1] >= start or not sql[spans[-1][1] : start].strip()):  # 'a' 'b', 'a'"b"
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        edits = [
            (start, end, MASK + " " * (sql.startswith("::", end) or sql[end : end + 1] in _JOINS_MASK))
            for start, end in spans
        ]
        if _COMMENT.search(sql):
            edits = sorted(edits + self._comments(tokens, sql, spans))
        parts, at = [], 0
        for start, end, text in edits:
            parts += (sql[at:start], text)
            at = end
        return "".join(parts) + sql[at:] + (CUT if cut else "")

    def _comments(self, tokens: list[Any], sql: str, spans: list[list[int]]) -> list[tuple[int, int, str]]:
        """The comments between tokens, and MySQL's optimizer hints (``/*+ ... */``, read as tokens), outside the
        masked spans, each masked from its text's first literal (``-- WHERE password = ?``, sqlcommenter's
        ``/*controller=?*/``): the words before it stay."""
        edits, at, inside = [], 0, iter(spans)
        span = next(inside, None)
        for token in (*tokens, None):
            start = len(sql) if token is None else token.start
            while span is not None and span[1] <= at:
                span = next(inside, None)
            if span is None or span[0] >= start:  # not inside a masked span
                if start > at and not sql[at:start].isspace():
                    edits.append((at, start, self._masked_comments(sql[at:start])))
                if token is not None and token.token_type is self.kinds.HINT:
                    edits.append((token.start, token.end + 1, "/*+" + _masked_text(token.text[3:-2]) + "*/"))
            if token is not None:
                at = token.end + 1
        return [edit for edit in edits if edit[2] != sql[edit[0] : edit[1]]]

    def _masked_comments(self, gap: str) -> str:
        """Spaces and comments between two tokens, each comment's text masked (:func:`_masked_text`), found where the
        tokenizer found it; where that cannot be followed, all of the gap goes but spaces and comments' marks."""
        try:
            [after] = self.tokenizer.tokenize(gap + "\nx")
        except Exception:  # the gap read alone holds more than comments: not expected, masked the strictest way
            return _NOT_A_MARK.sub(MASK, gap)
        parts, at = [], 0
        for text in after.comments:
            start = len(gap) - len(gap[at:].lstrip())
            block = gap.startswith("/*", start)
            body = start + (1 if gap.startswith("#", start) else 2)
            if not gap.startswith(text, body) or (block and not gap.startswith("*/", body + len(text))):
                return _NOT_A_MARK.sub(MASK, gap)
            parts += (gap[at:body], _masked_text(text))
            at = body + len(text) + 2 * block
            if block:
                parts.append("*/")
        return "".join(parts) + gap[at:]

    def _setting_values(self, tokens: list[Any], sql: str) -> dict[int, int]:
        """The values a statement gives settings (``SET app.key TO hunter2``, ``ALTER ROLE r SET k = v``, MySQL's
        ``SET @a = v, @b = w``), by their first and last token: each is masked whole, bare words too (a value may be
        a secret written without quotes); ``DEFAULT`` and placeholders are kept. A ``SET`` after ``UPDATE``,
        ``INSERT``, ``REPLACE`` or ``LOAD`` (MySQL's ``INSERT INTO t SET a = b``) assigns columns, not settings."""
        kinds, found = self.kinds, {}
        for statement in _statements(tokens, kinds.SEMICOLON):
            sets = [i for i, (depth, token, _) in enumerate(statement) if not depth and token.token_type is kinds.SET]
            if not sets or any(self._assigning(statement, i) for i in range(sets[0])):  # UPDATE t SET
                continue
            for at, end in zip(sets, [*sets[1:], len(statement)], strict=True):  # a function's SET clauses
                assigned = False
                for element in _split(statement[at + 1 : end], kinds.COMMA):
                    marks = [
                        i for i, (depth, token, _) in enumerate(element) if not depth and self._assigns(element, i)
                    ]
                    if marks:
                        assigned, element = True, _value(element[marks[0] + 1 :])
                    elif not assigned:  # SET NAMES utf8mb4, ALTER TABLE t SET (fillfactor = 70): no setting's value
                        continue
                    if element and not self._kept(element, sql):
                        found[element[0][2]] = element[-1][2]
        return found

    def _assigning(self, statement: list[tuple[int, Any, int]], at: int) -> bool:
        """Whether the token at ``at`` begins a statement whose SET assigns columns (``UPDATE``, ``INSERT``...), not
        a trigger's event (``BEFORE UPDATE``, ``INSERT OR UPDATE``, ``INSTEAD OF UPDATE``), after which a trigger's
        body may set a variable (``FOR EACH ROW SET @v = ...``)."""
        if statement[at][1].token_type not in self.assigning:
            return False
        return not at or statement[at - 1][1].text.upper() not in _EVENT_BEFORE

    def _kept(self, value: list[tuple[int, Any, int]], sql: str) -> bool:
        """Whether a setting's value stays: ``DEFAULT``, or a placeholder (``$1``, ``:1``, ``?1``)."""
        if len(value) == 1 and value[0][1].token_type is self.kinds.DEFAULT:
            return True
        return _PLACEHOLDER.fullmatch(sql[value[0][1].start : value[-1][1].end + 1]) is not None

    def _assigns(self, element: list[tuple[int, Any, int]], at: int) -> bool:
        """Whether the token at ``at`` gives a setting its value: ``=``, MySQL's ``:=``, or ``TO`` (not a name's
        part: ``app.to``)."""
        kind = element[at][1].token_type
        if kind is self.kinds.EQ or kind is self.kinds.COLON_EQ:
            return True
        after_dot = at > 0 and element[at - 1][1].token_type is self.kinds.DOT
        return kind is self.kinds.VAR and element[at][1].text.upper() == "TO" and not after_dot

    def _placeholder(self, tokens: list[Any], index: int, sql: str) -> bool:
        """Whether a number is a placeholder's (``$1``, ``?1``, ``:1`` after an operator or a space)."""
        token, mark = tokens[index], tokens[index - 1] if index else None
        if token.token_type is not self.kinds.NUMBER or mark is None or mark.end + 1 != token.start:
            return False
        if mark.token_type is self.kinds.COLON:
            return mark.start == 0 or not _VALUE_BEFORE_COLON.match(sql, mark.start - 1)  # not a[1:2]
        return mark.token_type is self.kinds.PLACEHOLDER or sql[mark.start : mark.end + 1] == "$"

    def _span(self, tokens: list[Any], index: int) -> tuple[int, int]:
        """Where a literal's value is written: with its type before it (``DATE '...'``, ``_utf8mb4'...'``, ``.5``)
        and a number's tail after it (``4111_1111``, ``0o17``)."""
        token, kinds = tokens[index], self.kinds
        start, end = token.start, token.end + 1
        before = tokens[index - 1] if index else None
        if before is not None:
            number = token.token_type is kinds.NUMBER
            fraction = number and before.token_type is kinds.DOT and before.end + 1 == start
            typed = not number and before.token_type in self.types
            if before.token_type is kinds.INTRODUCER or fraction or typed:
                start = before.start
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        tail = after is not None and after.start == end and after.token_type is kinds.VAR
        if token.token_type is kinds.NUMBER and tail:
            end = after.end + 1  # type: ignore[union-attr]
        return start, end


def parse_query(
    sql: str,
    dialect: str,
    *,
    default_database: str | None,
    default_schema: str | None,
    schema: Schema | None = None,
) -> ParsedQuery:
    """Query type, tables, joins and column lineage of one statement; QueryParseError if it cannot be parsed."""
    read = sqlglot_dialect(dialect)
    tree = _parse(sql, read)
    analysis = _Analysis(read, default_database, default_schema, schema or {})
    return _guarded(lambda: analysis.query(tree))


def view_lineage(
    view_sql: str,
    dialect: str,
    *,
    view: TableName,
    columns: Sequence[str] | None = None,
    default_schema: str | None = None,
    schema: Schema | None = None,
) -> ParsedQuery:
    """A view's source tables and column lineage from its definition: a bare SELECT or a CREATE VIEW.

    Unqualified names default to the view's database and to ``default_schema`` or the view's schema;
    ``columns`` (the view's columns from the catalog) name its outputs when given.
    """
    read = sqlglot_dialect(dialect)
    tree = _parse(view_sql, read)
    analysis = _Analysis(read, view.database, default_schema or view.schema, schema or {})
    return _guarded(lambda: analysis.view(tree, view, columns))


_MYSQL_PARTS = re.compile(
    r"'(?:[^'\\]|\\.?)*(?:'|\Z)|\"(?:[^\"\\]|\\.?)*(?:\"|\Z)|`[^`]*(?:`|\Z)"  # quoted: left as they are
    r"|/\*M?!(?:\d{5,6})?(.*?)(?:\*/|\Z)"  # an executable comment: its text is run
    r"|--(?=\s|\Z)[^\n]*|#[^\n]*|/\*.*?(?:\*/|\Z)",  # comments
    re.S,
)
"""Each part, once begun, runs to its end or to the text's: one pass, never a second look (an unterminated quote
or comment no longer makes each later one scan to the end)."""


def _masked_text(text: str) -> str:
    """A comment's text masked from its first literal on (:data:`_COMMENT_LITERAL`), but for its ``*`` and ``/``
    (:data:`_NOT_A_BOUND`)."""
    found = _COMMENT_LITERAL.search(text)
    if found is None:
        return text
    return text[: found.start()] + _NOT_A_BOUND.sub(MASK, text[found.start() :])


def _statements(tokens: list[Any], semicolon: Any) -> Iterator[list[tuple[int, Any, int]]]:
    """Each statement's tokens as (bracket depth, token, index), depth 0 outside every bracket; a semicolon ends a
    statement wherever it is (a bracket left open does not run on into the next)."""
    statement: list[tuple[int, Any, int]] = []
    depth = 0
    for index, token in enumerate(tokens):
        if token.token_type is semicolon:
            yield statement
            statement, depth = [], 0
            continue
        name = token.token_type.name
        depth = max(depth - (name in _CLOSING), 0)  # a stray closing bracket opens nothing
        statement.append((depth, token, index))
        depth += name in _OPENING
    yield statement


def _value(tokens: list[tuple[int, Any, int]]) -> list[tuple[int, Any, int]]:
    """A setting's value: its tokens up to a word that begins a function's next clause (``CREATE FUNCTION ... SET
    k = v AS '...'``); any other word is the value's (``SET k = a AND b``: masked whole)."""
    for at, (depth, token, _) in enumerate(tokens):
        before = tokens[at - 1][1] if at else None
        apart = before is not None and before.end + 1 < token.start  # '5s'::interval and a.select run on
        if apart and not depth and token.text.upper() in _CLAUSES:
            return tokens[:at]
    return tokens


def _split(levels: list[tuple[int, Any, int]], separator: Any) -> list[list[tuple[int, Any, int]]]:
    """Tokens from :func:`_statements`, cut at each ``separator`` outside brackets."""
    parts: list[list[tuple[int, Any, int]]] = [[]]
    for item in levels:
        if item[0] == 0 and item[1].token_type is separator:
            parts.append([])
        else:
            parts[-1].append(item)
    return parts


def _executable(sql: str) -> str:
    """MySQL's and MariaDB's executable comments (``/*! ... */``, ``/*!50100 ... */``, ``/*M! ... */``) opened:
    the server runs their text, so the tables it names are read too."""
    if "/*" not in sql:
        return sql
    return _MYSQL_PARTS.sub(lambda part: part.group() if part.group(1) is None else f" {part.group(1)} ", sql)


def _parse(sql: str, dialect: str) -> exp.Expr:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, SqlglotError, TokenError

    if len(sql) > MAX_QUERY_CHARS or sql.endswith(CUT):
        raise QueryParseError(f"longer than {MAX_QUERY_CHARS:,} characters: not parsed")
    if dialect == "mysql":
        sql = _executable(sql)
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        where = f" (line {first['line']}, column {first['col']})" if first.get("line") else ""
        reason = first.get("description") or "no statement"
        raise QueryParseError(f"not valid {dialect} SQL{where}: {_short(reason)}") from None
    except TokenError:
        raise QueryParseError(f"not valid {dialect} SQL: an unterminated string, quoted name or comment") from None
    except SqlglotError as error:
        raise QueryParseError(f"not valid {dialect} SQL: {type(error).__name__}") from None
    except RecursionError:
        raise QueryParseError("nested too deeply to parse") from None
    if isinstance(tree, exp.Block):
        raise QueryParseError(f"{len(tree.expressions)} statements in one query; the parser reads one at a time")
    return tree


def _short(reason: str) -> str:
    """sqlglot's description without the token or text it quotes (which may hold a literal from the query)."""
    return _QUOTED.sub("'...'", reason.split(" but got ", 1)[0].split(". Line ", 1)[0])[:200]


def _guarded(analyse: Callable[[], ParsedQuery]) -> ParsedQuery:
    """The analysis's result; a tree too deep for Python's recursion limit is a parse error as well."""
    try:
        return analyse()
    except RecursionError:
        raise QueryParseError("nested too deeply to resolve") from None


Source = Union[TableName, "exp.Query", None]
"""What a name in FROM stands for: a real table, a derived query (subquery or CTE), or None (a function, VALUES)."""


@dataclass(slots=True)
class _Block:
    """The names a SELECT (or UPDATE/DELETE/MERGE) can use, and the block around it for correlated names."""

    sources: dict[str, Source]
    outer: _Block | None


@dataclass(slots=True)
class _Shape:
    """A derived query's output columns with their real source columns; ``open`` stars that could not be expanded."""

    columns: list[tuple[str, frozenset[ColumnName]]] = field(default_factory=list)
    open: list[Source] = field(default_factory=list)

    def find(self, name: str) -> frozenset[ColumnName] | None:
        return next((sources for output, sources in self.columns if output == name), None)


class _Analysis:
    """One query's resolution: blocks by SELECT, tables read and written, shapes of derived queries."""

    def __init__(self, dialect: str, database: str | None, schema_name: str | None, schema: Schema) -> None:
        self.lowercase = _folds_to_lower_case(dialect)
        self.database, self.schema_name, self.schema = database, schema_name, schema
        self.blocks: dict[int, _Block] = {}
        self.reads: set[TableName] = set()
        self.targets: set[TableName] = set()
        self.written: set[int] = set()
        self.handled: set[int] = set()
        self.renamed: dict[int, list[str]] = {}
        self.shapes: dict[int, _Shape] = {}
        self.equalities: list[exp.EQ] = []
        self.usings: list[exp.Join] = []

    # -- the statement ------------------------------------------------------------------------------

    def query(self, tree: exp.Expr) -> ParsedQuery:
        from sqlglot import exp

        kind = _query_type(tree)
        if kind == "other":
            return ParsedQuery("other", (), (), (), ())
        target = self._target(tree) if kind != "select" else None
        self._walk(tree)
        lineage: list[ColumnLineage] = []
        if target is not None:
            table, names = target
            if isinstance(tree, exp.Insert):
                lineage = self._by_position(table, names or self.schema.get(table), tree.expression)
            elif isinstance(tree, exp.Create):
                lineage = self._by_position(table, names, tree.expression)
            elif isinstance(tree, exp.Select):
                lineage = self._by_position(table, None, tree)
            elif isinstance(tree, exp.Update):
                lineage = self._assignments(table, tree.expressions)
            elif isinstance(tree, exp.Merge):
                lineage = self._merge(table, tree)
        return self._result(kind, lineage)

    def view(self, tree: exp.Expr, view: TableName, columns: Sequence[str] | None) -> ParsedQuery:
        from sqlglot import exp

        if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query):
            names = columns or self._target_columns(tree.this)
            body = tree.expression
        elif isinstance(tree, exp.Query):
            names, body = columns, tree
        else:
            raise QueryParseError(f"a view definition is a SELECT or CREATE VIEW, not {type(tree).__name__}")
        self._walk(body)
        self.targets.add(view)
        return self._result("create_view", self._by_position(view, names, body))

    def _result(self, kind: QueryType, lineage: list[ColumnLineage]) -> ParsedQuery:
        return ParsedQuery(
            query_type=kind,
            source_tables=tuple(sorted(self.reads, key=TableName.sort_key)),
            target_tables=tuple(sorted(self.targets, key=TableName.sort_key)),
            joins=tuple(sorted(self._joins(), key=lambda pair: (pair.left.sort_key(), pair.right.sort_key()))),
            column_lineage=tuple(sorted(lineage, key=lambda item: item.target.sort_key())),
        )

    def _target(self, tree: exp.Expr) -> tuple[TableName, list[str] | None] | None:
        """The written table and its column list, if the statement names them; temporary tables are not kept."""
        from sqlglot import exp

        if isinstance(tree, exp.Select):
            into = tree.args["into"]
            node, temporary = into.this, bool(into.args.get("temporary"))
        else:
            node = tree.this
            properties = tree.args.get("properties") if isinstance(tree, exp.Create) else None
            temporary = bool(properties and properties.find(exp.TemporaryProperty))
            for alias in tree.args.get("tables") or []:  # MySQL's DELETE alias FROM table alias JOIN ...
                self.handled.add(id(alias))
        names = self._target_columns(node)
        node = node.this if isinstance(node, exp.Schema) else node
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            return None
        self.written.add(id(node))
        self.handled.add(id(node))
        table = self._table(node)
        if temporary or table is None:
            return None
        self.targets.add(table)
        return table, names

    def _target_columns(self, node: exp.Expr) -> list[str] | None:
        from sqlglot import exp

        if not isinstance(node, exp.Schema):
            return None
        names = [self._ident(item if isinstance(item, exp.Identifier) else item.this) for item in node.expressions]
        return names or None

    # -- one pass over the tree: blocks, CTEs, tables ---------------------------------------------------

    def _walk(self, root: exp.Expr) -> None:
        """One pass over the tree: a block per SELECT/UPDATE/DELETE/MERGE, CTEs in scope, tables, join conditions."""
        from sqlglot import exp

        leaves = (exp.Column, exp.Identifier, exp.Literal, exp.DataType, exp.Star, exp.Placeholder, exp.Parameter)
        stack: list[tuple[exp.Expr, dict[str, exp.Query], _Block | None, bool]] = [(root, {}, None, False)]
        while stack:
            node, env, block, condition = stack.pop()
            if isinstance(node, exp.Select):
                env = self._with(node, env, block, stack)
                block, condition = self._select_block(node, env, block), False
            elif isinstance(node, (exp.Update, exp.Delete, exp.Merge)) and isinstance(node.this, exp.Table):
                env = self._with(node, env, block, stack)
                block, condition = self._dml_block(node, env, block), False
            elif isinstance(node, exp.Table):
                if id(node) not in self.handled:
                    self._classify(node, env)
            elif isinstance(node, exp.EQ):
                if condition:
                    self.equalities.append(node)
            elif isinstance(node, exp.Join) and node.args.get("using"):
                self.usings.append(node)
            elif node.args.get("with_") is not None:
                env = self._with(node, env, block, stack)
            on = node.args.get("on") if isinstance(node, (exp.Join, exp.Merge)) else None
            inside = condition or isinstance(node, exp.Where)
            for child in node.iter_expressions():
                if not isinstance(child, leaves) and not isinstance(child, exp.With):
                    stack.append((child, env, block, inside or child is on))

    def _with(
        self, node: exp.Expr, env: dict[str, exp.Query], block: _Block | None, stack: list
    ) -> dict[str, exp.Query]:
        """The CTEs ``node`` adds to ``env``; their bodies go on the walk's stack, each seeing the CTEs before it."""
        with_ = node.args.get("with_")
        if with_ is None:
            return env
        env = dict(env)
        for cte in with_.expressions:
            name = self._ident(cte.args["alias"].this)
            body = cte.this
            self._rename(body, cte.args["alias"])
            stack.append((body, {**env, name: body} if with_.args.get("recursive") else dict(env), block, False))
            env[name] = body
        return env

    def _select_block(self, select: exp.Select, env: dict[str, exp.Query], outer: _Block | None) -> _Block:
        block = _Block({}, outer)
        from_ = select.args.get("from_")
        items = [from_.this] if from_ is not None else []
        items += [join.this for join in select.args.get("joins") or []]
        items += select.args.get("laterals") or []
        for item in items:
            self._add_source(block, item, env)
        self.blocks[id(select)] = block
        return block

    def _dml_block(self, node: exp.Expr, env: dict[str, exp.Query], outer: _Block | None) -> _Block:
        """UPDATE's, DELETE's or MERGE's names: the written table, then FROM / USING."""
        from sqlglot import exp

        block = _Block({}, outer)
        items = [node.this]
        from_ = node.args.get("from_")
        if from_ is not None:
            items.append(from_.this)
        using = node.args.get("using")
        items += using if isinstance(using, list) else [using] if isinstance(using, exp.Expr) else []
        for item in items:
            self._add_source(block, item, env)
        self.blocks[id(node)] = block
        return block

    def _add_source(self, block: _Block, item: exp.Expr, env: dict[str, exp.Query]) -> None:
        from sqlglot import exp

        if isinstance(item, exp.Table):
            block.sources[self._alias(item)] = self._classify(item, env)
            for join in item.args.get("joins") or []:
                self._add_source(block, join.this, env)
        elif isinstance(item, exp.Subquery) and not isinstance(item.unnest(), exp.Query):
            self._add_source(block, item.this, env)  # parenthesized joins: ((a JOIN b) JOIN c)
            for join in item.args.get("joins") or []:
                self._add_source(block, join.this, env)
        elif isinstance(item, (exp.Subquery, exp.Lateral)) and isinstance(item.this, exp.Query | exp.Subquery):
            query = item.this.unnest() if isinstance(item.this, exp.Subquery) else item.this
            self._rename(query, item.args.get("alias"))
            block.sources[self._alias(item)] = query
        else:
            block.sources[self._alias(item)] = None

    def _classify(self, node: exp.Table, env: dict[str, exp.Query]) -> Source:
        """A table node as a CTE's query, a real table (counted as read unless written), or None (a function)."""
        from sqlglot import exp

        self.handled.add(id(node))
        if not isinstance(node.this, exp.Identifier):
            return None
        name = self._ident(node.this)
        if node.args.get("db") is None and name in env:
            return env[name]
        table = self._table(node)
        if table is not None and id(node) not in self.written:
            self.reads.add(table)
        return table

    def _table(self, node: exp.Table) -> TableName | None:
        catalog, db = node.args.get("catalog"), node.args.get("db")
        schema = self._ident(db) if db is not None else self.schema_name
        if schema is not None and schema.lower().startswith("pg_temp"):
            return None
        database = self._ident(catalog) if catalog is not None else self.database
        return TableName(database, schema, self._ident(node.this))

    def _rename(self, query: exp.Expr, alias: exp.Expr | None) -> None:
        columns = alias.args.get("columns") if alias is not None else None
        if columns:
            self.renamed[id(query)] = [self._ident(column) for column in columns]

    def _alias(self, item: exp.Expr) -> str:
        from sqlglot import exp

        alias = item.args.get("alias")
        if alias is not None and alias.this is not None:
            return self._ident(alias.this)
        return self._ident(item.this) if isinstance(item, exp.Table) and isinstance(item.this, exp.Identifier) else ""

    def _ident(self, node: exp.Expr) -> str:
        name = node.name
        return name.lower() if self.lowercase and not node.args.get("quoted") else name

    # -- columns ------------------------------------------------------------------------------------

    def _column(self, column: exp.Column, seen: set[int] | None = None) -> frozenset[ColumnName]:
        """The real columns a column reference stands for (several through a UNION, none if unresolvable).

        ``seen``: the derived queries being resolved, so a recursive CTE ends instead of looping.
        """
        from sqlglot import exp

        if not isinstance(column.this, exp.Identifier):
            return frozenset()
        qualifier = column.args.get("table")
        block = self._block_of(column)
        name = self._ident(column.this)
        qualifier_name = self._ident(qualifier) if qualifier is not None else None
        return self._lookup(block, qualifier_name, name, seen if seen is not None else set())

    def _block_of(self, node: exp.Expr) -> _Block | None:
        parent = node.parent
        while parent is not None:
            block = self.blocks.get(id(parent))
            if block is not None:
                return block
            parent = parent.parent
        return None

    def _lookup(self, block: _Block | None, qualifier: str | None, name: str, seen: set[int]) -> frozenset[ColumnName]:
        while block is not None:
            if qualifier is not None:
                if qualifier in block.sources:
                    return self._source_column(block.sources[qualifier], name, seen)
            elif block.sources:
                return self._unqualified(block, name, seen)
            block = block.outer
        return frozenset()

    def _unqualified(self, block: _Block, name: str, seen: set[int]) -> frozenset[ColumnName]:
        """One source: its column; several: the one source known (schema, derived outputs) to have it."""
        sources = list(block.sources.values())
        if len(sources) > 1:
            sources = [source for source in sources if name in (self._names(source, seen) or ())]
        return self._source_column(sources[0], name, seen) if len(sources) == 1 else frozenset()

    def _source_column(self, source: Source, name: str, seen: set[int]) -> frozenset[ColumnName]:
        if isinstance(source, TableName):
            return frozenset((ColumnName(source, name),))
        if source is None:
            return frozenset()
        shape = self._shape(source, seen)
        found = shape.find(name)
        if found is not None:
            return found
        return self._source_column(shape.open[0], name, seen) if len(shape.open) == 1 else frozenset()

    def _names(self, source: Source, seen: set[int]) -> list[str] | None:
        if isinstance(source, TableName):
            names = self.schema.get(source)
            return list(names) if names is not None else None
        if source is None:
            return None
        shape = self._shape(source, seen)
        return None if shape.open else [name for name, _ in shape.columns]

    def _shape(self, query: exp.Expr, seen: set[int]) -> _Shape:
        """The output columns of a derived query, resolved once; a query met again while resolving is empty."""
        from sqlglot import exp

        key = id(query)
        if key in self.shapes:
            return self.shapes[key]
        if key in seen:
            return _Shape()
        seen.add(key)
        if isinstance(query, exp.Select):
            shape = self._select_shape(query, seen)
        elif isinstance(query, exp.SetOperation):
            shape = self._union_shape(query, seen)
        else:
            shape = _Shape()
        seen.discard(key)
        names = self.renamed.get(key)
        if names:
            shape.columns = [(names[i] if i < len(names) else n, s) for i, (n, s) in enumerate(shape.columns)]
        self.shapes[key] = shape
        return shape

    def _select_shape(self, select: exp.Select, seen: set[int]) -> _Shape:
        from sqlglot import exp

        shape = _Shape()
        block = self.blocks.get(id(select), _Block({}, None))
        for projection in select.expressions:
            star = isinstance(projection, exp.Star) or (
                isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
            )
            if star:
                qualifier = projection.args.get("table")
                for alias, source in block.sources.items():
                    if qualifier is None or self._ident(qualifier) == alias:
                        self._expand(shape, source, seen)
                continue
            shape.columns.append((self._output_name(projection), self._expression_columns(projection, seen)))
        return shape

    def _expand(self, shape: _Shape, source: Source, seen: set[int]) -> None:
        names = self._names(source, seen)
        if names is None:
            shape.open.append(source)
        else:
            shape.columns += [(name, self._source_column(source, name, seen)) for name in names]

    def _union_shape(self, union: exp.SetOperation, seen: set[int]) -> _Shape:
        """The first branch's names; each output's sources are that position in every branch."""
        from sqlglot import exp

        branches: list[exp.Expr] = []
        pending: list[exp.Expr] = [union]
        while pending:
            node = pending.pop()
            node = node.unnest() if isinstance(node, exp.Subquery) else node
            if isinstance(node, exp.SetOperation):
                pending += [node.expression, node.this]
            else:
                branches.append(node)
        shapes = [self._shape(branch, seen) for branch in branches]
        columns = [
            (name, frozenset().union(*(s.columns[i][1] for s in shapes if i < len(s.columns) and not s.open)))
            for i, (name, _) in enumerate(shapes[0].columns)
        ]
        return _Shape(columns, [source for s in shapes for source in s.open])

    def _output_name(self, projection: exp.Expr) -> str:
        from sqlglot import exp

        if isinstance(projection, exp.Alias):
            return self._ident(projection.args["alias"])
        if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Identifier):
            return self._ident(projection.this)
        return ""

    def _expression_columns(self, expression: exp.Expr, seen: set[int]) -> frozenset[ColumnName]:
        """The columns a value is computed from: its own columns and the outputs of its scalar subqueries."""
        from sqlglot import exp

        found: set[ColumnName] = set()
        for node in expression.walk(prune=lambda node: isinstance(node, exp.Query)):
            if isinstance(node, exp.Column):
                found |= self._column(node, seen)
            elif isinstance(node, exp.Query):
                for _, sources in self._shape(node.unnest() if isinstance(node, exp.Subquery) else node, seen).columns:
                    found |= sources
        return frozenset(found)

    # -- lineage ------------------------------------------------------------------------------------

    def _by_position(self, target: TableName, names: Sequence[str] | None, query: exp.Expr) -> list[ColumnLineage]:
        """Target column i <- the sources of the query's output i (names: the target's, else the outputs')."""
        from sqlglot import exp

        if not isinstance(query, exp.Query):
            return []
        shape = self._shape(query, set())
        if shape.open:
            return []
        names = names or [name for name, _ in shape.columns]
        return [
            ColumnLineage(ColumnName(target, name), _sorted_columns(sources))
            for name, (_, sources) in zip(names, shape.columns, strict=False)
            if name and sources
        ]

    def _assignments(self, target: TableName, assignments: Sequence[exp.Expr]) -> list[ColumnLineage]:
        from sqlglot import exp

        lineage = []
        for assignment in assignments:
            if isinstance(assignment, exp.EQ) and isinstance(assignment.this, exp.Column):
                sources = self._expression_columns(assignment.expression, set())
                if sources:
                    name = ColumnName(target, self._ident(assignment.this.this))
                    lineage.append(ColumnLineage(name, _sorted_columns(sources)))
        return lineage

    def _merge(self, target: TableName, merge: exp.Merge) -> list[ColumnLineage]:
        """UPDATE SET and INSERT (columns) VALUES of every WHEN, merged per target column."""
        from sqlglot import exp

        merged: dict[ColumnName, set[ColumnName]] = {}
        whens = merge.args.get("whens")
        for when in whens.expressions if whens is not None else []:
            then = when.args.get("then")
            if isinstance(then, exp.Update):
                items = self._assignments(target, then.expressions)
            elif isinstance(then, exp.Insert) and isinstance(then.this, exp.Tuple):
                values = then.expression.expressions if isinstance(then.expression, exp.Tuple) else []
                items = [
                    ColumnLineage(ColumnName(target, self._ident(column.this)), tuple(sources))
                    for column, value in zip(then.this.expressions, values, strict=False)
                    if isinstance(column, exp.Column) and (sources := self._expression_columns(value, set()))
                ]
            else:
                items = []
            for item in items:
                merged.setdefault(item.target, set()).update(item.sources)
        return [ColumnLineage(column, _sorted_columns(sources)) for column, sources in merged.items()]

    # -- joins --------------------------------------------------------------------------------------

    def _joins(self) -> set[JoinPair]:
        """Column pairs of JOIN ... ON / USING, MERGE ... ON, and WHERE equalities between two tables."""
        from sqlglot import exp

        pairs: set[JoinPair] = set()
        for join in self.usings:
            pairs |= self._using(join)
        for equality in self.equalities:
            left, right = _uncast(equality.this), _uncast(equality.expression)
            if isinstance(left, exp.Column) and isinstance(right, exp.Column):
                pairs |= self._pairs(left, right)
        return pairs

    def _pairs(self, left: exp.Column, right: exp.Column) -> set[JoinPair]:
        same_alias = left.table == right.table
        found = set()
        for one in self._column(left):
            for other in self._column(right):
                if one.table == other.table and (same_alias or one == other):
                    continue
                first, second = sorted((one, other), key=ColumnName.sort_key)
                found.add(JoinPair(first, second))
        return found

    def _using(self, join: exp.Join) -> set[JoinPair]:
        """``a JOIN b USING (c)``: b.c with the same column of the source joined before b."""
        block = self._block_of(join)
        if block is None:
            return set()
        aliases = list(block.sources)
        right = self._alias(join.this)
        if right not in aliases or aliases.index(right) == 0:
            return set()
        left_source = block.sources[aliases[aliases.index(right) - 1]]
        found = set()
        for identifier in join.args["using"]:
            name = self._ident(identifier)
            for one in self._source_column(left_source, name, set()):
                for other in self._source_column(block.sources[right], name, set()):
                    if one != other:
                        first, second = sorted((one, other), key=ColumnName.sort_key)
                        found.add(JoinPair(first, second))
        return found


@cache
def _folds_to_lower_case(dialect: str) -> bool:
    """Whether the sqlglot dialect folds unquoted names to lower case (PostgreSQL, SQLite) or keeps them (MySQL)."""
    from sqlglot.dialects.dialect import Dialect, NormalizationStrategy

    strategy = Dialect.get_or_raise(dialect).normalization_strategy
    return strategy in (NormalizationStrategy.LOWERCASE, NormalizationStrategy.CASE_INSENSITIVE)


def _query_type(tree: exp.Expr) -> QueryType:
    from sqlglot import exp

    if isinstance(tree, exp.Select) and tree.args.get("into") is not None:
        return "create_table_as"
    if isinstance(tree, exp.Query):
        return "select"
    if isinstance(tree, exp.Create):
        creates = {"VIEW": "create_view", "TABLE": "create_table_as"}
        return creates.get(tree.args.get("kind"), "other") if isinstance(tree.expression, exp.Query) else "other"
    return _WRITES.get(type(tree).__name__, "other")


def _sorted_columns(columns: frozenset[ColumnName] | set[ColumnName]) -> tuple[ColumnName, ...]:
    return tuple(sorted(columns, key=ColumnName.sort_key))


def _uncast(node: exp.Expr) -> exp.Expr:
    from sqlglot import exp

    while isinstance(node, exp.Cast):
        node = node.this
    return node
