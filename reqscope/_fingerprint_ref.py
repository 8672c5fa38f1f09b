"""The SQL fingerprint in plain Python: the readable statement of dbhooks/fingerprint.c.

reqscope never calls this module; the C code does the work. It exists so that the rules can
be read in one place and so that tests can run the same cases on both and compare them on
generated statements. Both work on the UTF-8 bytes of the statement, and both give the same
id, text, kind and flags for every input. The rules, in the order the code applies them:

- Literals become ``?``: numbers (with a sign stuck to them where an operand starts),
  'strings', E'..', N'..', X'..', B'..', $$..$$ and $tag$..$tag$, TRUE and FALSE; so do the
  placeholders ?, ?1, $1, :name, %s, %(name)s and @name. ``::`` is a cast and ``%%`` is ``%``.
- NULL is a word: ``is null`` and ``is not null`` stay.
- An IN (or ARRAY[...]) list of two or more literals becomes ``in (...)``; one item stays.
- A VALUES clause keeps its first row and ends with ``, ...``.
- Comments vanish; words are lower-cased; plain quoted identifiers lose their quotes.
- Savepoint, cursor and prepared-statement names become ``?``.
- Spacing is canonical (see ``_needs_space``), and the kind comes from the leading verb.
"""

MAX_INPUT = 1 << 20  # RS_FP_MAX_INPUT: bytes examined.

# Byte classes, as the C character table defines them.
SPACE = frozenset(range(0x00, 0x21)) | {0x7F}
DIGITS = frozenset(b"0123456789")
HEX = DIGITS | frozenset(b"abcdefABCDEF")
IDENT_START = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") | frozenset(
    range(0x80, 0x100)
)
IDENT = IDENT_START | DIGITS | {ord("$")}
PLAIN_START = frozenset(b"abcdefghijklmnopqrstuvwxyz_") | frozenset(range(0x80, 0x100))
PLAIN = PLAIN_START | DIGITS | {ord("$")}
PYFORMAT_NAME = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

# Keyword properties.
CLAUSE = {  # An operand starts after these, and `(` after them is spaced.
    "all", "and", "as", "between", "by", "case", "conflict", "default", "delete", "distinct",
    "else", "except", "exists", "filter", "for", "from", "having", "ilike", "in", "insert",
    "intersect", "into", "is", "join", "key", "lateral", "like", "limit", "materialized", "not",
    "offset", "on", "or", "over", "recursive", "return", "returning", "select", "set", "table",
    "then", "union", "update", "using", "values", "when", "where", "window", "with",
}  # fmt: skip
BOOLEANS = {"true", "false"}
READ_VERBS = {"select", "values", "show", "explain", "table"}
WRITE_VERBS = {"insert", "update", "delete", "replace", "merge", "upsert", "create", "drop",
               "alter", "truncate", "copy"}  # fmt: skip
TRANSACTION_VERBS = {"begin", "start", "commit", "end", "rollback", "savepoint", "release"}
MAIN_VERBS = {"select", "values", "table", "insert", "update", "delete", "merge"}  # end a WITH
FETCH_DIRECTIONS = {"next", "prior", "first", "last", "absolute", "relative", "all", "forward",
                    "backward", "from", "in"}  # fmt: skip
NAMES_NEXT = {"savepoint", "release", "declare", "close", "prepare", "execute", "deallocate"}

# Token types.
END, WORD, QUOTED, LITERAL = "end", "word", "quoted", "literal"
OPEN, CLOSE, LBRACKET, RBRACKET = "(", ")", "[", "]"
LBRACKET_START = "[ where an operand starts"  # and that opens no quoted identifier
COMMA, DOT, ELLIPSIS, SEMICOLON, CAST, OPERATOR = ",", ".", "...", ";", "::", "operator"

KIND_NAMES = {0: "other", 1: "read", 2: "write", 3: "transaction"}


class Token:
    """One token: its type and, for words, quoted identifiers and operators, its bytes."""

    __slots__ = ("type", "text")

    def __init__(self, type_, text=b""):
        self.type = type_
        self.text = text

    @property
    def word(self):
        """The lower-cased text of a word, as a str ('' for other tokens)."""
        return _lower(self.text).decode("latin-1") if self.type == WORD else ""


def _lower(data):
    """ASCII lower-casing; bytes >= 0x80 are kept as they are."""
    return bytes(b + 32 if 65 <= b <= 90 else b for b in data)


def _verb_kind(word):
    """The kind (a KIND_NAMES key) of a statement that starts with this verb."""
    if word in READ_VERBS:
        return 1
    if word in WRITE_VERBS:
        return 2
    if word in TRANSACTION_VERBS:
        return 3
    return 0


def _ends_operand(token):
    """True when a sign or a [ after this token is an operator, not the start of an operand."""
    if token.type == WORD:
        return token.word not in CLAUSE
    return token.type in (QUOTED, LITERAL, CLOSE, RBRACKET, ELLIPSIS)


def _at(data, i):
    """The byte at i, or 0 past the end (the C code reads a NUL there, which is in no class)."""
    return data[i] if i < len(data) else 0


def _skip_string(data, i, backslash):
    """End of a '...' string whose body starts at i ('' escapes; \\ too when backslash)."""
    while i < len(data):
        if data[i] == 0x27:  # '
            if _at(data, i + 1) == 0x27 and i + 1 < len(data):
                i += 2
                continue
            return i + 1
        i += 2 if backslash and data[i] == 0x5C and i + 1 < len(data) else 1
    return len(data)


def _skip_quoted(data, i, quote):
    """(end of token, end of body) of a quoted identifier whose body starts at i."""
    while True:
        close = data.find(quote, i)
        if close < 0:
            return len(data), len(data)
        if close + 1 < len(data) and data[close + 1] == quote[0]:
            i = close + 2
            continue
        return close + 1, close


def _skip_number(data, i):
    """End of a number starting at i (a digit, or a dot before a digit)."""
    if data.startswith((b"0x", b"0X"), i) and i + 2 < len(data) and data[i + 2] in HEX:
        i += 3
        while i < len(data) and data[i] in HEX:
            i += 1
        return i
    while i < len(data) and data[i] in DIGITS:
        i += 1
    if i < len(data) and data[i] == ord("."):
        i += 1
        while i < len(data) and data[i] in DIGITS:
            i += 1
    if i + 1 < len(data) and data[i] in b"eE":
        exponent = i + 1
        if exponent + 1 < len(data) and data[exponent] in b"+-":
            exponent += 1
        if exponent < len(data) and data[exponent] in DIGITS:
            i = exponent
            while i < len(data) and data[i] in DIGITS:
                i += 1
    return i


def _is_plain(body):
    """True when a quoted identifier's body may lose its quotes."""
    if not body or body[0] not in PLAIN_START:
        return False
    return all(b in PLAIN for b in body[1:]) and body not in (b"true", b"false")


def _quoted_token(data, start, stop, body_start, body_end):
    body = data[body_start:body_end]
    if _is_plain(body):
        return Token(WORD, body)
    return Token(QUOTED, data[start:stop])


def _operator_length(data, i):
    """Length of the operator at i: the longest multi-byte operator, else 1."""
    for operator in (b"<=>", b"->>", b"#>>", b"!~*"):
        if data.startswith(operator, i):
            return 3
    for operator in (b"<=", b"<>", b"<@", b"<<", b">=", b">>", b"!~", b"!=", b"==", b"=>",
                     b"||", b"&&", b"->", b"#>", b"@>", b"~*", b"~~", b":="):  # fmt: skip
        if data.startswith(operator, i):
            return 2
    return 1


def _skip_space_and_comments(data, i):
    while True:
        while i < len(data) and data[i] in SPACE:
            i += 1
        if data.startswith(b"--", i):
            while i < len(data) and data[i] not in b"\n\r":
                i += 1
        elif data.startswith(b"/*", i):
            depth, i = 1, i + 2
            while i < len(data) and depth > 0:
                if data.startswith(b"*/", i):
                    depth, i = depth - 1, i + 2
                elif data.startswith(b"/*", i):
                    depth, i = depth + 1, i + 2
                else:
                    i += 1
        else:
            return i


def _next_token(data, i, operand_start):
    """(token, end) of the token at i, after whitespace and comments."""
    i = _skip_space_and_comments(data, i)
    if i >= len(data):
        return Token(END), i
    byte, following = data[i], _at(data, i + 1)
    literal = Token(LITERAL)

    if byte in IDENT_START:
        if following == 0x27 and byte in b"eEnNxXbB":
            return literal, _skip_string(data, i + 2, byte in b"eE")
        end = i + 1
        while end < len(data) and data[end] in IDENT:
            end += 1
        token = Token(WORD, data[i:end])
        return (literal if token.word in BOOLEANS else token), end
    if byte in DIGITS:
        return literal, _skip_number(data, i)

    char = chr(byte)
    if char == "'":
        return literal, _skip_string(data, i + 1, False)
    if char in "\"`":
        stop, body_end = _skip_quoted(data, i + 1, data[i:i + 1])
        return _quoted_token(data, i, stop, i + 1, body_end), stop
    if char == "[":
        if operand_start and following in IDENT_START:
            close = i + 1
            while close < len(data) and data[close] not in b"[]":
                close += 1
            if close < len(data) and data[close] == ord("]"):
                return _quoted_token(data, i, close + 1, i + 1, close), close + 1
        return Token(LBRACKET_START if operand_start else LBRACKET, b"["), i + 1
    if char in "](),;":
        return Token(char, data[i:i + 1]), i + 1
    if char == ".":
        if following in DIGITS:
            return literal, _skip_number(data, i)
        if data.startswith(b"...", i):
            return Token(ELLIPSIS, b"..."), i + 3
        return Token(DOT, b"."), i + 1
    if char == "?":
        i += 1
        while i < len(data) and data[i] in DIGITS:
            i += 1
        return literal, i
    if char == "$":
        if following in DIGITS:
            i += 1
            while i < len(data) and data[i] in DIGITS:
                i += 1
            return literal, i
        if following == ord("$") or following in IDENT_START:
            tag_end = i + 1
            while tag_end < len(data) and data[tag_end] in IDENT and data[tag_end] != ord("$"):
                tag_end += 1
            if tag_end < len(data) and data[tag_end] == ord("$"):
                tag = data[i:tag_end + 1]
                close = data.find(tag, tag_end + 1)
                return literal, (len(data) if close < 0 else close + len(tag))
    if char == ":":
        if following == ord(":"):
            return Token(CAST, b"::"), i + 2
        if following in IDENT_START or following in DIGITS:
            i += 2
            while i < len(data) and data[i] in IDENT:
                i += 1
            return literal, i
    if char == "%":
        if following == ord("%"):
            return Token(OPERATOR, b"%"), i + 2
        if following in b"sbt":
            return literal, i + 2
        if following == ord("("):
            name_end = i + 2
            while name_end < len(data) and data[name_end] in PYFORMAT_NAME:
                name_end += 1
            if name_end + 1 < len(data) and data[name_end] == ord(")"):
                if data[name_end + 1] in b"sbt":
                    return literal, name_end + 2
    if char == "@":
        if following == ord("@") and _at(data, i + 2) in IDENT_START:
            end = i + 3
            while end < len(data) and data[end] in IDENT:
                end += 1
            return Token(WORD, data[i:end]), end
        if following in IDENT_START:
            i += 2
            while i < len(data) and data[i] in IDENT:
                i += 1
            return literal, i
    if char in "+-" and operand_start:
        if following in DIGITS or (following == ord(".") and _at(data, i + 2) in DIGITS):
            return literal, _skip_number(data, i + 1)
    length = _operator_length(data, i)
    return Token(OPERATOR, data[i:i + length]), i + length


def _needs_space(last, token):
    """The canonical spacing: True when a space goes between the last written token and this.

    The text must read back as the same tokens: dots never touch dots or `...`, `::` never
    touches an operator, and a word after a [ that opens no quoted identifier stays apart.
    """
    if last is None or last.type in (OPEN, LBRACKET, CAST):
        return False
    if last.type == LBRACKET_START:
        return token.type == WORD
    if last.type == DOT:
        return token.type in (DOT, ELLIPSIS)  # dots never touch dots
    if token.type in (CLOSE, RBRACKET, COMMA, SEMICOLON, LBRACKET):
        return False
    if token.type == CAST:
        return last.type == OPERATOR
    if token.type == DOT:
        return last.type == ELLIPSIS
    if token.type == OPEN:  # count(*), but in (...)
        return not (last.type == QUOTED or (last.type == WORD and last.word not in CLAUSE))
    return True


class _Normalizer:
    """The state machines that the tokens go through, and the text they write."""

    def __init__(self):
        self.parts = []
        self.last = None  # last written token
        self.semicolon_pending = False
        self.prev = None  # last token read: written, held back or dropped
        self.depth = 0  # open parentheses
        # Statement rules.
        self.statement_start = True
        self.verb = ""
        self.name_next = False
        self.kind_state = "first word"  # then "with", then "known"
        self.with_depth = 0
        self.kind = 0
        # IN / ARRAY lists.
        self.in_pending = self.array_pending = self.values_pending = False
        self.list = None  # None, "item" or "comma"
        self.list_closer = CLOSE
        self.list_items = 0
        # VALUES rows.
        self.values = None  # None, "first row", "after row", "after comma", "skip row"
        self.values_depth = 0
        self.values_rows = 0
        self.has_list = False
        self.list_arity = 0

    def emit(self, token):
        if self.semicolon_pending:
            self.semicolon_pending = False
            self.parts.append(b";")
            self.last = Token(SEMICOLON)
        if _needs_space(self.last, token):
            self.parts.append(b" ")
        if token.type == WORD:
            self.parts.append(_lower(token.text))
        elif token.type == QUOTED:
            self.parts.append(token.text.replace(b"\0", b"?"))
        elif token.type == LITERAL:
            self.parts.append(b"?")
        else:
            self.parts.append(token.text)
        self.last = token

    def note_list(self, items):
        if not self.has_list:
            self.has_list, self.list_arity = True, items

    def flush_list(self):
        """Writes the held-back IN items as they would have been written."""
        for item in range(self.list_items):
            if item:
                self.emit(Token(COMMA, b","))
            self.emit(Token(LITERAL))
        if self.list == "item" and self.list_items:
            self.emit(Token(COMMA, b","))
        self.list = None

    def finish_values(self):
        """Ends a VALUES clause: `, ...` after the first row, then any comma held back."""
        comma_held = self.values == "after comma"
        self.emit(Token(COMMA, b","))
        self.emit(Token(ELLIPSIS, b"..."))
        if self.values_rows >= 2:
            self.note_list(self.values_rows)
        self.values = None
        if comma_held:
            self.emit(Token(COMMA, b","))

    def statement_rules(self, token):
        """Statement starts, names that become `?`, and the kind; may turn token into `?`."""
        if token.type == SEMICOLON:
            self.statement_start, self.verb, self.name_next = True, "", False
            self.kind_state = "known"
            return token
        if token.type in (WORD, QUOTED):
            word = token.word
            if self.statement_start:
                self.verb = word
                self.name_next = word in NAMES_NEXT
            elif self.verb in ("fetch", "move"):
                if word not in FETCH_DIRECTIONS:
                    token = Token(LITERAL)
            elif self.name_next:
                if (word == "savepoint" and self.verb in ("release", "rollback")) or (
                    word == "prepare" and self.verb == "deallocate"
                ):
                    pass  # the optional noun before the name
                elif (word == "all" and self.verb in ("close", "deallocate")) or (
                    word == "transaction" and self.verb == "prepare"
                ):
                    self.name_next = False
                else:
                    token = Token(LITERAL)
                    self.name_next = False
            elif self.verb == "rollback" and word == "to":
                self.name_next = True
        else:
            self.name_next = False
        self.statement_start = False

        if self.kind_state != "known" and token.type == WORD:
            word = token.word
            if self.kind_state == "first word" and word == "with":
                self.kind_state, self.with_depth = "with", self.depth
            elif self.kind_state == "first word" or (
                self.depth == self.with_depth and word in MAIN_VERBS
            ):
                self.kind_state = "known"
                self.kind = _verb_kind(word)
        return token

    def process(self, token):
        """One token through the machines; returns it as the statement rules left it."""
        if self.values == "skip row":
            if token.type == OPEN:
                self.depth += 1
            elif token.type == CLOSE and self.depth > 0:
                self.depth -= 1
                if self.depth == self.values_depth:
                    self.values = "after row"
            return token

        token = self.statement_rules(token)

        if self.values == "after row":
            if token.type == COMMA:
                self.values = "after comma"
                return token
            self.finish_values()
        elif self.values == "after comma":
            if token.type == OPEN:
                self.values = "skip row"
                self.values_rows += 1
                self.depth += 1
                return token
            if token.type == ELLIPSIS:  # rows collapsed before end the clause, as they did then
                self.values = "after row"
                self.finish_values()
                return token
            self.finish_values()
        elif self.values == "first row" and token.type == SEMICOLON:
            self.values = None

        if self.list is not None:
            if self.list == "item" and token.type == LITERAL:
                self.list_items += 1
                self.list = "comma"
                return token
            if self.list == "comma" and token.type == COMMA:
                self.list = "item"
                return token
            if self.list == "comma" and token.type == self.list_closer:
                if self.list_items >= 2:
                    self.emit(Token(ELLIPSIS, b"..."))
                    self.note_list(self.list_items)
                else:
                    self.emit(Token(LITERAL))
                self.list = None
            else:
                self.flush_list()

        opens_list = (self.in_pending and token.type == OPEN) or (
            self.array_pending and token.type == LBRACKET
        )
        opens_values = self.values_pending and token.type == OPEN
        self.in_pending = self.array_pending = self.values_pending = False

        if token.type == SEMICOLON:
            if self.last is not None:
                self.semicolon_pending = True
            return token
        if token.type == OPEN:
            if opens_values:
                self.values, self.values_depth, self.values_rows = "first row", self.depth, 1
            self.depth += 1
        elif token.type == CLOSE and self.depth > 0:
            self.depth -= 1
            if self.depth == self.values_depth and self.values == "first row":
                self.values = "after row"
        elif token.type == WORD:
            word = token.word
            self.in_pending = word == "in"
            self.array_pending = word == "array"
            self.values_pending = (
                word == "values"
                and self.values is None
                and (self.prev is None or self.prev.type not in (OPERATOR, CAST, DOT))
            )
        self.emit(token)
        if opens_list:
            self.list, self.list_items = "item", 0
            self.list_closer = CLOSE if token.type == OPEN else RBRACKET
        return token

    def finish(self):
        if self.list is not None:
            self.flush_list()
        if self.values in ("after row", "after comma", "skip row"):
            self.finish_values()
        return b"".join(self.parts)


def fnv1a_64(data):
    """The FNV-1a 64-bit hash of bytes: rs_fp_hash."""
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def _normalize(sql):
    if isinstance(sql, str):
        data = sql.encode("utf-8")  # lone surrogates raise, as in the C extension
    elif isinstance(sql, bytes):
        data = sql
    else:
        raise TypeError(f"fingerprint() needs str or bytes, not {type(sql).__name__}")
    truncated = len(data) > MAX_INPUT
    data = data[:MAX_INPUT]
    normalizer = _Normalizer()
    i = 0
    while True:
        operand_start = normalizer.prev is None or not _ends_operand(normalizer.prev)
        token, i = _next_token(data, i, operand_start)
        if token.type == END:
            break
        normalizer.prev = normalizer.process(token)
    text = normalizer.finish()
    return text, normalizer, truncated


def fingerprint_info(sql):
    """id, text, kind, truncated, has_list and list_arity of a statement (str or bytes)."""
    text, normalizer, truncated = _normalize(sql)
    return {
        "id": fnv1a_64(text),
        "text": text.decode("utf-8", "surrogateescape"),
        "kind": KIND_NAMES[normalizer.kind],
        "truncated": truncated,
        "has_list": normalizer.has_list,
        "list_arity": normalizer.list_arity,
    }


def fingerprint(sql):
    """The (64-bit id, normalized text) of a statement (str or bytes)."""
    info = fingerprint_info(sql)
    return info["id"], info["text"]
