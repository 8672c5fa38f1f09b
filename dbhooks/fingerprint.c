/*
 * fingerprint.c: turns one SQL statement into its shape, a normalized text and a 64-bit id.
 * Statements that differ only in values, placeholders, comments, spacing or case get one id.
 *
 * The normalizer is a single pass over the bytes: a tokenizer driven by a character table
 * feeds a few small state machines, which write the text straight into one buffer. There is
 * no parser and no regular expression, so any input gives a result, and work and output are
 * linear in the input. The rules, which reqscope/_fingerprint_ref.py restates in Python:
 *
 * - Literals become `?`: numbers (decimals, exponents, 0x hex, and a sign stuck to a number
 *   where an operand starts), 'strings' with '' escapes, E'..' with backslash escapes, N'..',
 *   X'..', B'..', $$..$$ and $tag$..$tag$, TRUE and FALSE. Every placeholder style becomes `?`
 *   too: ?, ?NNN, $1, :name, :1, %s, %(name)s (and psycopg's %b, %t), @name. `::` is a cast,
 *   `%%` is the operator `%`, and `@@name` is a word (a MySQL system variable).
 * - NULL is a word, so `is null` and `is not null` keep their meaning.
 * - `in (...)` replaces an IN list of two or more literals, `array[...]` an ARRAY list; one
 *   item stays `in (?)`. The first such list sets RS_FP_HAS_LIST and list_arity. A list that
 *   holds anything else (a subquery, a column, NULL, a tuple) is kept as it is.
 * - A VALUES clause keeps its first row and ends with `, ...` whatever the number of rows, so
 *   one row and fifty rows share a fingerprint; two rows or more set RS_FP_HAS_LIST and
 *   list_arity to the row count. VALUES right after an operator, a cast or a dot is the MySQL
 *   function and is left alone.
 * - Comments vanish: `--` to the end of the line, and nested block comments.
 * - Keywords and unquoted identifiers are lower-cased (ASCII only). A quoted identifier
 *   ("x", `x` or [x]) loses its quotes when it is plain: [a-z_] or a byte >= 0x80, then
 *   [a-z0-9_$] or bytes >= 0x80, and not true or false. Any other one is kept byte for byte
 *   (a NUL inside becomes `?`). [ starts a quoted identifier only where an operand starts,
 *   when an identifier character follows and a ] closes it before any other [; elsewhere
 *   it is a subscript or an ARRAY bracket.
 * - Names of savepoints (SAVEPOINT n, RELEASE [SAVEPOINT] n, ROLLBACK ... TO [SAVEPOINT] n),
 *   cursors (DECLARE n, CLOSE n, every word of FETCH and MOVE but the direction words) and
 *   prepared statements (PREPARE n, EXECUTE n, DEALLOCATE [PREPARE] n) become `?`.
 * - Spacing is canonical: one space between tokens, except none after `(`, `[`, `.` and `::`,
 *   none before `)`, `]`, `,`, `;`, `.` and `::` (unless after an operator), none before a
 *   subscript `[`, and none before `(` after a word that is not a clause keyword or after a
 *   quoted identifier (`count(*)`, `insert into t(a)`, but `in (`, `values (`, `exists (`).
 *   A dot next to a dot or to `...` is spaced, so `...` in the text is always a collapsed
 *   list, and a word after a `[` that opens no quoted identifier is spaced, so that it does
 *   not read back as one. Empty statements and a trailing `;` are dropped.
 * - Nothing is reordered.
 * - The kind comes from the first word of the first statement, looking through leading `(`
 *   and, after WITH, through the CTEs to the first main verb at the WITH's own depth.
 *
 * Limits: at most RS_FP_MAX_INPUT bytes are examined (RS_FP_TRUNCATED says so), and a token
 * cut there ends where the input ends. An unterminated quote or comment runs to the end. A
 * plain 'string' takes '' as its only escape, as standard SQL does, so MySQL's \' inside
 * one ends the literal early; the result is still deterministic. The text is at most about
 * twice the input (`a=b` gives `a = b`), and the normalized text of a normalized text is the
 * text itself (the fuzz target checks both).
 */
#include "fingerprint.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "rawalloc.h"

/* ---------------- Character classes ---------------- */

#define CC_SPACE 0x01       /* Whitespace, control bytes and NUL: they only separate tokens. */
#define CC_IDENT_START 0x02 /* Starts a word: a-z, A-Z, _, bytes >= 0x80. */
#define CC_IDENT 0x04       /* Continues a word: the above, digits and $. */
#define CC_DIGIT 0x08       /* 0-9. */
#define CC_PLAIN_START 0x10 /* Starts a plain quoted identifier: a-z, _, bytes >= 0x80. */
#define CC_PLAIN 0x20       /* Continues one: the above, digits and $. */
#define CC_HEX 0x40         /* 0-9, a-f, A-F. */
#define CC_NAME 0x80        /* A pyformat %(name)s name byte: a-z, A-Z, 0-9, _. */

static const unsigned char char_class[256] = {
    [0x00 ... 0x20] = CC_SPACE,
    [0x7f] = CC_SPACE,
    ['0' ... '9'] = CC_IDENT | CC_DIGIT | CC_PLAIN | CC_HEX | CC_NAME,
    ['A' ... 'F'] = CC_IDENT_START | CC_IDENT | CC_HEX | CC_NAME,
    ['G' ... 'Z'] = CC_IDENT_START | CC_IDENT | CC_NAME,
    ['a' ... 'f'] = CC_IDENT_START | CC_IDENT | CC_PLAIN_START | CC_PLAIN | CC_HEX | CC_NAME,
    ['g' ... 'z'] = CC_IDENT_START | CC_IDENT | CC_PLAIN_START | CC_PLAIN | CC_NAME,
    ['_'] = CC_IDENT_START | CC_IDENT | CC_PLAIN_START | CC_PLAIN | CC_NAME,
    ['$'] = CC_IDENT | CC_PLAIN,
    [0x80 ... 0xff] = CC_IDENT_START | CC_IDENT | CC_PLAIN_START | CC_PLAIN,
};

#define HAS_CLASS(byte, cls) (char_class[(unsigned char)(byte)] & (cls))

/* ---------------- Keywords ---------------- */

/* What a keyword is: one identity (low byte) and property bits. */
enum {
    KW_NONE = 0,
    KW_IN,
    KW_VALUES,
    KW_ARRAY,
    KW_WITH,
    KW_SAVEPOINT,
    KW_RELEASE,
    KW_ROLLBACK,
    KW_TO,
    KW_DECLARE,
    KW_CLOSE,
    KW_FETCH,
    KW_MOVE,
    KW_PREPARE,
    KW_EXECUTE,
    KW_DEALLOCATE,
    KW_ALL,
    KW_TRANSACTION,
    KW_OTHER
};
#define KW_ID_MASK 0xff
#define KW_CLAUSE 0x100      /* Clause keyword: an operand starts after it, `(` is spaced. */
#define KW_BOOLEAN 0x200     /* TRUE, FALSE: literals. */
#define KW_READ 0x400        /* Leading verb of a read. */
#define KW_WRITE 0x800       /* Leading verb of a write. */
#define KW_TRANSACT 0x1000   /* Leading verb of transaction control. */
#define KW_MAIN_VERB 0x2000  /* Ends the CTEs of a WITH. */
#define KW_DIRECTION 0x4000  /* A FETCH / MOVE word that is not a cursor name. */
#define KW_NAMES_NEXT 0x8000 /* As a leading verb, the next word is a name. */

#define KW_MAX_LENGTH 12

typedef struct {
    const char *word; /* Lower case. */
    size_t length;    /* strlen(word). */
    unsigned bits;    /* KW_* identity and properties. */
} keyword;

#define KEYWORD(word, bits)          \
    {                                \
        word, sizeof(word) - 1, bits \
    }

static const keyword keywords[] = {
    KEYWORD("absolute", KW_OTHER | KW_DIRECTION),
    KEYWORD("all", KW_ALL | KW_CLAUSE | KW_DIRECTION),
    KEYWORD("alter", KW_OTHER | KW_WRITE),
    KEYWORD("and", KW_OTHER | KW_CLAUSE),
    KEYWORD("array", KW_ARRAY),
    KEYWORD("as", KW_OTHER | KW_CLAUSE),
    KEYWORD("backward", KW_OTHER | KW_DIRECTION),
    KEYWORD("begin", KW_OTHER | KW_TRANSACT),
    KEYWORD("between", KW_OTHER | KW_CLAUSE),
    KEYWORD("by", KW_OTHER | KW_CLAUSE),
    KEYWORD("case", KW_OTHER | KW_CLAUSE),
    KEYWORD("close", KW_CLOSE | KW_NAMES_NEXT),
    KEYWORD("commit", KW_OTHER | KW_TRANSACT),
    KEYWORD("conflict", KW_OTHER | KW_CLAUSE),
    KEYWORD("copy", KW_OTHER | KW_WRITE),
    KEYWORD("create", KW_OTHER | KW_WRITE),
    KEYWORD("deallocate", KW_DEALLOCATE | KW_NAMES_NEXT),
    KEYWORD("declare", KW_DECLARE | KW_NAMES_NEXT),
    KEYWORD("default", KW_OTHER | KW_CLAUSE),
    KEYWORD("delete", KW_OTHER | KW_CLAUSE | KW_WRITE | KW_MAIN_VERB),
    KEYWORD("distinct", KW_OTHER | KW_CLAUSE),
    KEYWORD("drop", KW_OTHER | KW_WRITE),
    KEYWORD("else", KW_OTHER | KW_CLAUSE),
    KEYWORD("end", KW_OTHER | KW_TRANSACT),
    KEYWORD("except", KW_OTHER | KW_CLAUSE),
    KEYWORD("execute", KW_EXECUTE | KW_NAMES_NEXT),
    KEYWORD("exists", KW_OTHER | KW_CLAUSE),
    KEYWORD("explain", KW_OTHER | KW_READ),
    KEYWORD("false", KW_OTHER | KW_BOOLEAN),
    KEYWORD("fetch", KW_FETCH),
    KEYWORD("filter", KW_OTHER | KW_CLAUSE),
    KEYWORD("first", KW_OTHER | KW_DIRECTION),
    KEYWORD("for", KW_OTHER | KW_CLAUSE),
    KEYWORD("forward", KW_OTHER | KW_DIRECTION),
    KEYWORD("from", KW_OTHER | KW_CLAUSE | KW_DIRECTION),
    KEYWORD("having", KW_OTHER | KW_CLAUSE),
    KEYWORD("ilike", KW_OTHER | KW_CLAUSE),
    KEYWORD("in", KW_IN | KW_CLAUSE | KW_DIRECTION),
    KEYWORD("insert", KW_OTHER | KW_CLAUSE | KW_WRITE | KW_MAIN_VERB),
    KEYWORD("intersect", KW_OTHER | KW_CLAUSE),
    KEYWORD("into", KW_OTHER | KW_CLAUSE),
    KEYWORD("is", KW_OTHER | KW_CLAUSE),
    KEYWORD("join", KW_OTHER | KW_CLAUSE),
    KEYWORD("key", KW_OTHER | KW_CLAUSE),
    KEYWORD("last", KW_OTHER | KW_DIRECTION),
    KEYWORD("lateral", KW_OTHER | KW_CLAUSE),
    KEYWORD("like", KW_OTHER | KW_CLAUSE),
    KEYWORD("limit", KW_OTHER | KW_CLAUSE),
    KEYWORD("materialized", KW_OTHER | KW_CLAUSE),
    KEYWORD("merge", KW_OTHER | KW_WRITE | KW_MAIN_VERB),
    KEYWORD("move", KW_MOVE),
    KEYWORD("next", KW_OTHER | KW_DIRECTION),
    KEYWORD("not", KW_OTHER | KW_CLAUSE),
    KEYWORD("offset", KW_OTHER | KW_CLAUSE),
    KEYWORD("on", KW_OTHER | KW_CLAUSE),
    KEYWORD("or", KW_OTHER | KW_CLAUSE),
    KEYWORD("over", KW_OTHER | KW_CLAUSE),
    KEYWORD("prepare", KW_PREPARE | KW_NAMES_NEXT),
    KEYWORD("prior", KW_OTHER | KW_DIRECTION),
    KEYWORD("recursive", KW_OTHER | KW_CLAUSE),
    KEYWORD("relative", KW_OTHER | KW_DIRECTION),
    KEYWORD("release", KW_RELEASE | KW_TRANSACT | KW_NAMES_NEXT),
    KEYWORD("replace", KW_OTHER | KW_WRITE),
    KEYWORD("return", KW_OTHER | KW_CLAUSE),
    KEYWORD("returning", KW_OTHER | KW_CLAUSE),
    KEYWORD("rollback", KW_ROLLBACK | KW_TRANSACT),
    KEYWORD("savepoint", KW_SAVEPOINT | KW_TRANSACT | KW_NAMES_NEXT),
    KEYWORD("select", KW_OTHER | KW_CLAUSE | KW_READ | KW_MAIN_VERB),
    KEYWORD("set", KW_OTHER | KW_CLAUSE),
    KEYWORD("show", KW_OTHER | KW_READ),
    KEYWORD("start", KW_OTHER | KW_TRANSACT),
    KEYWORD("table", KW_OTHER | KW_CLAUSE | KW_READ | KW_MAIN_VERB),
    KEYWORD("then", KW_OTHER | KW_CLAUSE),
    KEYWORD("to", KW_TO),
    KEYWORD("transaction", KW_TRANSACTION),
    KEYWORD("true", KW_OTHER | KW_BOOLEAN),
    KEYWORD("truncate", KW_OTHER | KW_WRITE),
    KEYWORD("union", KW_OTHER | KW_CLAUSE),
    KEYWORD("update", KW_OTHER | KW_CLAUSE | KW_WRITE | KW_MAIN_VERB),
    KEYWORD("upsert", KW_OTHER | KW_WRITE),
    KEYWORD("using", KW_OTHER | KW_CLAUSE),
    KEYWORD("values", KW_VALUES | KW_CLAUSE | KW_READ | KW_MAIN_VERB),
    KEYWORD("when", KW_OTHER | KW_CLAUSE),
    KEYWORD("where", KW_OTHER | KW_CLAUSE),
    KEYWORD("window", KW_OTHER | KW_CLAUSE),
    KEYWORD("with", KW_WITH | KW_CLAUSE),
};

#define KEYWORD_COUNT (sizeof(keywords) / sizeof(keywords[0]))
#define KEYWORD_SLOTS 512 /* Open addressing, a fifth full: most words miss at once. */

/* Per slot, keyword index + 1 in the low byte and its length in the high byte; 0 for an
   empty slot. Filled once by build_keyword_slots, read-only afterwards. */
static uint16_t keyword_slots[KEYWORD_SLOTS];
static pthread_once_t keyword_slots_once = PTHREAD_ONCE_INIT;

/* Hashes a word of 1 to KW_MAX_LENGTH bytes, of any case, from its length and three bytes.
   Keywords are all letters, so setting bit 0x20 lower-cases the bytes that can match one. */
static inline unsigned
keyword_hash(const unsigned char *word, size_t length)
{
    return ((unsigned)length * 7u + (word[0] | 0x20u) * 31u + (word[length - 1] | 0x20u) * 13u +
            (word[length / 2] | 0x20u)) &
           (KEYWORD_SLOTS - 1);
}

static void
build_keyword_slots(void)
{
    for (size_t index = 0; index < KEYWORD_COUNT; index++) {
        const unsigned char *word = (const unsigned char *)keywords[index].word;
        unsigned slot = keyword_hash(word, keywords[index].length);
        while (keyword_slots[slot] != 0) {
            slot = (slot + 1) & (KEYWORD_SLOTS - 1);
        }
        keyword_slots[slot] = (uint16_t)((index + 1) | (keywords[index].length << 8));
    }
}

/* Returns the keyword bits of a word of any case, 0 when it is no keyword. A byte matches a
   keyword's lower-case letter when it equals it with bit 0x20 set: only that letter in
   either case does. */
static inline unsigned
keyword_bits(const char *text, size_t length)
{
    if (length == 0 || length > KW_MAX_LENGTH) {
        return 0;
    }
    const unsigned char *word = (const unsigned char *)text; /* The bytes, unsigned. */
    unsigned slot = keyword_hash(word, length);
    while (keyword_slots[slot] != 0) {
        const keyword *candidate = &keywords[(keyword_slots[slot] & 0xff) - 1];
        if ((size_t)(keyword_slots[slot] >> 8) == length) {
            size_t i = 0; /* Bytes that match so far. */
            while (i < length && (word[i] | 0x20) == (unsigned char)candidate->word[i]) {
                i++;
            }
            if (i == length) {
                return candidate->bits;
            }
        }
        slot = (slot + 1) & (KEYWORD_SLOTS - 1);
    }
    return 0;
}

/* ---------------- Tokens ---------------- */

typedef enum {
    TOKEN_END = 0,
    TOKEN_WORD,           /* Keyword, identifier or plain quoted identifier: written lower-cased. */
    TOKEN_QUOTED,         /* Quoted identifier kept byte for byte. */
    TOKEN_LITERAL,        /* Literal or placeholder: written `?`. */
    TOKEN_OPEN,           /* ( */
    TOKEN_CLOSE,          /* ) */
    TOKEN_LBRACKET,       /* [ of a subscript or an ARRAY, after an operand. */
    TOKEN_LBRACKET_START, /* [ where an operand starts, not a quoted identifier. */
    TOKEN_RBRACKET,       /* ] */
    TOKEN_COMMA,
    TOKEN_DOT,
    TOKEN_ELLIPSIS, /* ... (the mark of a collapsed list). */
    TOKEN_SEMICOLON,
    TOKEN_CAST, /* :: */
    TOKEN_OPERATOR
} token_type;

typedef struct {
    token_type type;
    const char *text; /* Bytes written for a word, quoted identifier or operator. */
    size_t length;    /* Their count. */
    unsigned keyword; /* Keyword bits of a word, 0 otherwise. */
} token;

static const token literal_token = {TOKEN_LITERAL, "?", 1, 0};
static const token comma_token = {TOKEN_COMMA, ",", 1, 0};
static const token ellipsis_token = {TOKEN_ELLIPSIS, "...", 3, 0};

/* True when a token ends an operand, so that a sign or a [ after it is an operator. */
static inline int
ends_operand(token_type type, unsigned keyword)
{
    switch (type) {
        case TOKEN_WORD:
            return !(keyword & KW_CLAUSE);
        case TOKEN_QUOTED:
        case TOKEN_LITERAL:
        case TOKEN_CLOSE:
        case TOKEN_RBRACKET:
        case TOKEN_ELLIPSIS:
            return 1;
        default:
            return 0;
    }
}

/* Returns the end of a '...' string that starts at `p` (after the quote); `backslash` makes
   a backslash escape the next byte. An unterminated string ends at `end`. */
static inline const char *
skip_string(const char *p, const char *end, int backslash)
{
    while (p < end) {
        if (!backslash) {
            const char *quote = memchr(p, '\'', (size_t)(end - p));
            if (quote == NULL) {
                return end;
            }
            p = quote;
        }
        if (*p == '\'') {
            if (p + 1 < end && p[1] == '\'') {
                p += 2;
                continue;
            }
            return p + 1;
        }
        p += (*p == '\\' && p + 1 < end) ? 2 : 1;
    }
    return end;
}

/* Returns the end of a quoted identifier whose body starts at `p`, closed by `quote`, which
   doubled stands for itself; sets *body_end to where the body ends. Unterminated: `end`. */
static inline const char *
skip_quoted(const char *p, const char *end, char quote, const char **body_end)
{
    for (;;) {
        const char *close = memchr(p, quote, (size_t)(end - p));
        if (close == NULL) {
            *body_end = end;
            return end;
        }
        if (close + 1 < end && close[1] == quote) {
            p = close + 2;
            continue;
        }
        *body_end = close;
        return close + 1;
    }
}

/* Returns the end of a $tag$ string whose body starts at `p`; `tag` includes both dollars. */
static inline const char *
skip_dollar_string(const char *p, const char *end, const char *tag, size_t tag_length)
{
    while (p < end) {
        const char *dollar = memchr(p, '$', (size_t)(end - p));
        if (dollar == NULL) {
            return end;
        }
        if ((size_t)(end - dollar) >= tag_length && memcmp(dollar, tag, tag_length) == 0) {
            return dollar + tag_length;
        }
        p = dollar + 1;
    }
    return end;
}

/* Returns the end of a number that starts at `p` (a digit, or a dot before a digit). */
static inline const char *
skip_number(const char *p, const char *end)
{
    if (p + 2 < end && p[0] == '0' && (p[1] | 0x20) == 'x' && HAS_CLASS(p[2], CC_HEX)) {
        p += 3;
        while (p < end && HAS_CLASS(*p, CC_HEX)) {
            p++;
        }
        return p;
    }
    while (p < end && HAS_CLASS(*p, CC_DIGIT)) {
        p++;
    }
    if (p < end && *p == '.') {
        p++;
        while (p < end && HAS_CLASS(*p, CC_DIGIT)) {
            p++;
        }
    }
    if (p + 1 < end && (*p | 0x20) == 'e') {
        const char *exponent = p + 1; /* First byte after the e. */
        if (exponent + 1 < end && (*exponent == '+' || *exponent == '-')) {
            exponent++;
        }
        if (exponent < end && HAS_CLASS(*exponent, CC_DIGIT)) {
            p = exponent;
            while (p < end && HAS_CLASS(*p, CC_DIGIT)) {
                p++;
            }
        }
    }
    return p;
}

/* True when the quoted identifier body [start, stop) has only the bytes of a plain one. */
static inline int
has_plain_bytes(const char *start, const char *stop)
{
    if (start == stop || !HAS_CLASS(*start, CC_PLAIN_START)) {
        return 0;
    }
    for (const char *p = start + 1; p < stop; p++) {
        if (!HAS_CLASS(*p, CC_PLAIN)) {
            return 0;
        }
    }
    return 1;
}

/* Makes `t` the word or quoted identifier [start, stop) with body [body, body_end). */
static inline void
quoted_token(token *t, const char *start, const char *stop, const char *body, const char *body_end)
{
    size_t length = (size_t)(body_end - body); /* Bytes of the body. */
    unsigned bits = 0;                         /* Its keyword bits, when plain. */
    if (has_plain_bytes(body, body_end) && !((bits = keyword_bits(body, length)) & KW_BOOLEAN)) {
        t->type = TOKEN_WORD;
        t->text = body;
        t->length = length;
        t->keyword = bits;
    }
    else {
        t->type = TOKEN_QUOTED;
        t->text = start;
        t->length = (size_t)(stop - start);
    }
}

/* Length of the operator at `p`: the longest of the multi-byte operators, else 1. */
static inline size_t
operator_length(const char *p, const char *end)
{
    char second = p + 1 < end ? p[1] : '\0'; /* Next byte, NUL past the end. */
    char third = p + 2 < end ? p[2] : '\0';  /* The one after. */
    switch (*p) {
        case '<':
            if (second == '=') {
                return third == '>' ? 3 : 2;
            }
            return (second == '>' || second == '@' || second == '<') ? 2 : 1;
        case '>':
            return (second == '=' || second == '>') ? 2 : 1;
        case '!':
            if (second == '~') {
                return third == '*' ? 3 : 2;
            }
            return second == '=' ? 2 : 1;
        case '=':
            return (second == '=' || second == '>') ? 2 : 1;
        case '|':
            return second == '|' ? 2 : 1;
        case '&':
            return second == '&' ? 2 : 1;
        case '-':
        case '#':
            if (second == '>') {
                return third == '>' ? 3 : 2;
            }
            return 1;
        case '@':
            return second == '>' ? 2 : 1;
        case '~':
            return (second == '*' || second == '~') ? 2 : 1;
        case ':':
            return second == '=' ? 2 : 1;
        default:
            return 1;
    }
}

/*
 * Reads the token at `p`, skipping whitespace and comments first, and returns where it ends.
 * `operand_start` says whether an operand starts here (no operand ended just before), which
 * decides between a signed number and an operator, and between [identifier] and a subscript.
 * Sets t->type to TOKEN_END at the end of the input. Never reads at or past `end`.
 */
static inline const char *
next_token(const char *p, const char *end, int operand_start, token *t)
{
    for (;;) {
        while (p < end && HAS_CLASS(*p, CC_SPACE)) {
            p++;
        }
        if (p == end) {
            t->type = TOKEN_END;
            return p;
        }
        if (p + 1 < end && p[0] == '-' && p[1] == '-') {
            while (p < end && *p != '\n' && *p != '\r') {
                p++;
            }
            continue;
        }
        if (p + 1 < end && p[0] == '/' && p[1] == '*') {
            size_t depth = 1; /* Open block comments. */
            p += 2;
            while (p < end && depth > 0) {
                if (p + 1 < end && p[0] == '*' && p[1] == '/') {
                    depth--;
                    p += 2;
                }
                else if (p + 1 < end && p[0] == '/' && p[1] == '*') {
                    depth++;
                    p += 2;
                }
                else {
                    p++;
                }
            }
            continue;
        }
        break;
    }

    const char *start = p;                  /* First byte of the token. */
    unsigned char byte = (unsigned char)*p; /* Its value. */
    char next = p + 1 < end ? p[1] : '\0';  /* The byte after it, NUL past the end. */
    t->keyword = 0;
    t->type = TOKEN_LITERAL;
    t->text = start;
    t->length = 1;

    if (HAS_CLASS(byte, CC_IDENT_START)) {
        if (next == '\'' && ((byte | 0x20) == 'e' || (byte | 0x20) == 'n' || (byte | 0x20) == 'x' ||
                             (byte | 0x20) == 'b')) {
            return skip_string(p + 2, end, (byte | 0x20) == 'e');
        }
        p++;
        while (p < end && HAS_CLASS(*p, CC_IDENT)) {
            p++;
        }
        t->length = (size_t)(p - start);
        t->keyword = keyword_bits(start, t->length);
        if (t->keyword & KW_BOOLEAN) {
            t->length = 1; /* Every literal is written as the one byte `?`. */
        }
        else {
            t->type = TOKEN_WORD;
        }
        return p;
    }
    if (HAS_CLASS(byte, CC_DIGIT)) {
        return skip_number(p, end);
    }

    switch (byte) {
        case '\'':
            return skip_string(p + 1, end, 0);
        case '"':
        case '`': {
            const char *body_end; /* Where the body stops, before the closing quote. */
            const char *stop = skip_quoted(p + 1, end, (char)byte, &body_end);
            quoted_token(t, start, stop, p + 1, body_end);
            return stop;
        }
        case '[':
            if (operand_start && p + 1 < end && HAS_CLASS(p[1], CC_IDENT_START)) {
                const char *close = p + 1; /* Looks for the ] before any [. */
                while (close < end && *close != ']' && *close != '[') {
                    close++;
                }
                if (close < end && *close == ']') {
                    quoted_token(t, start, close + 1, p + 1, close);
                    return close + 1;
                }
            }
            t->type = operand_start ? TOKEN_LBRACKET_START : TOKEN_LBRACKET;
            return p + 1;
        case ']':
            t->type = TOKEN_RBRACKET;
            return p + 1;
        case '(':
            t->type = TOKEN_OPEN;
            return p + 1;
        case ')':
            t->type = TOKEN_CLOSE;
            return p + 1;
        case ',':
            t->type = TOKEN_COMMA;
            return p + 1;
        case ';':
            t->type = TOKEN_SEMICOLON;
            return p + 1;
        case '.':
            if (HAS_CLASS(next, CC_DIGIT)) {
                return skip_number(p, end);
            }
            if (next == '.' && p + 2 < end && p[2] == '.') {
                t->type = TOKEN_ELLIPSIS;
                t->length = 3;
                return p + 3;
            }
            t->type = TOKEN_DOT;
            return p + 1;
        case '?':
            p++;
            while (p < end && HAS_CLASS(*p, CC_DIGIT)) {
                p++;
            }
            return p;
        case '$':
            if (HAS_CLASS(next, CC_DIGIT)) {
                p++;
                while (p < end && HAS_CLASS(*p, CC_DIGIT)) {
                    p++;
                }
                return p;
            }
            if (next == '$' || HAS_CLASS(next, CC_IDENT_START)) {
                const char *tag_end = p + 1; /* Looks for the $ that closes the tag. */
                while (tag_end < end && *tag_end != '$' && HAS_CLASS(*tag_end, CC_IDENT)) {
                    tag_end++;
                }
                if (tag_end < end && *tag_end == '$') {
                    size_t tag_length = (size_t)(tag_end + 1 - p); /* With both dollars. */
                    return skip_dollar_string(tag_end + 1, end, p, tag_length);
                }
            }
            break;
        case ':':
            if (next == ':') {
                t->type = TOKEN_CAST;
                t->length = 2;
                return p + 2;
            }
            if (HAS_CLASS(next, CC_IDENT_START | CC_DIGIT)) {
                p += 2;
                while (p < end && HAS_CLASS(*p, CC_IDENT)) {
                    p++;
                }
                return p;
            }
            break;
        case '%':
            if (next == '%') {
                t->type = TOKEN_OPERATOR;
                return p + 2;
            }
            if (next == 's' || next == 'b' || next == 't') {
                return p + 2;
            }
            if (next == '(') {
                const char *name_end = p + 2; /* Looks for the ) after the name. */
                while (name_end < end && HAS_CLASS(*name_end, CC_NAME)) {
                    name_end++;
                }
                if (name_end + 1 < end && *name_end == ')' &&
                    (name_end[1] == 's' || name_end[1] == 'b' || name_end[1] == 't')) {
                    return name_end + 2;
                }
            }
            break;
        case '@':
            if (next == '@' && p + 2 < end && HAS_CLASS(p[2], CC_IDENT_START)) {
                p += 3;
                while (p < end && HAS_CLASS(*p, CC_IDENT)) {
                    p++;
                }
                t->type = TOKEN_WORD;
                t->length = (size_t)(p - start);
                return p;
            }
            if (HAS_CLASS(next, CC_IDENT_START)) {
                p += 2;
                while (p < end && HAS_CLASS(*p, CC_IDENT)) {
                    p++;
                }
                return p;
            }
            break;
        case '+':
        case '-':
            if (operand_start && (HAS_CLASS(next, CC_DIGIT) ||
                                  (next == '.' && p + 2 < end && HAS_CLASS(p[2], CC_DIGIT)))) {
                return skip_number(p + 1, end);
            }
            break;
        default:
            break;
    }
    t->type = TOKEN_OPERATOR;
    t->length = operator_length(p, end);
    return p + t->length;
}

/* ---------------- Writing ---------------- */

/* States of the VALUES machine. */
typedef enum {
    VALUES_NONE = 0,
    VALUES_FIRST_ROW,   /* Inside the first row, written as it comes. */
    VALUES_AFTER_ROW,   /* A row just closed. */
    VALUES_AFTER_COMMA, /* A comma followed a row; it is held back. */
    VALUES_SKIP_ROW     /* Inside a further row, dropped. */
} values_state;

/* How far the kind of the first statement is known. */
typedef enum {
    KIND_FIRST_WORD = 0, /* No word read yet. */
    KIND_IN_WITH,        /* After WITH, looking for the main verb. */
    KIND_KNOWN           /* Decided. */
} kind_state;

/* States of the IN / ARRAY list machine. */
typedef enum {
    LIST_NONE = 0,
    LIST_ITEM, /* Waiting for an item: the list is opened or a comma came. */
    LIST_COMMA /* Waiting for a comma or the closing bracket. */
} list_state;

typedef struct {
    char *buffer;           /* Start of the output. */
    char *out;              /* Write position. */
    char *limit;            /* End of the allocation. */
    int failed;             /* Memory ran out. */
    token_type last;        /* Last written token, TOKEN_END before the first. */
    unsigned last_keyword;  /* Its keyword bits. */
    int semicolon_pending;  /* A ; waits for a token after it. */
    token_type prev;        /* Last token read (written, held back or dropped). */
    unsigned prev_keyword;  /* Its keyword bits. */
    size_t depth;           /* Open parentheses. */
    int statement_start;    /* The next token starts a statement. */
    unsigned verb;          /* Keyword identity of the statement's first word. */
    int name_next;          /* The next word is a name that becomes `?`. */
    kind_state kind_state;  /* How far the kind is known. */
    size_t with_depth;      /* Depth of the WITH. */
    rs_stmt_kind kind;      /* What the first statement does. */
    int in_pending;         /* The last token was IN. */
    int array_pending;      /* The last token was ARRAY. */
    int values_pending;     /* The last token was a VALUES clause keyword. */
    list_state list;        /* The IN / ARRAY machine. */
    token_type list_closer; /* TOKEN_CLOSE or TOKEN_RBRACKET. */
    uint32_t list_items;    /* Items held back. */
    values_state values;    /* The VALUES machine. */
    size_t values_depth;    /* Depth outside the rows. */
    uint32_t values_rows;   /* Rows seen. */
    unsigned flags;         /* RS_FP_* bits. */
    uint32_t list_arity;    /* Items of the first collapsed list. */
    uint64_t hash;          /* FNV-1a of the text written so far. */
} normalizer;

/* Makes room for `needed` more bytes; sets `failed` and returns -1 when memory runs out. */
static int
grow(normalizer *n, size_t needed)
{
    size_t used = (size_t)(n->out - n->buffer);
    size_t capacity = (size_t)(n->limit - n->buffer) * 2;
    if (capacity < used + needed) {
        capacity = used + needed;
    }
    char *buffer = rs_raw_realloc(n->buffer, capacity);
    if (buffer == NULL) {
        n->failed = 1;
        return -1;
    }
    n->buffer = buffer;
    n->out = buffer + used;
    n->limit = buffer + capacity;
    return 0;
}

/* True when a space goes between the last written token and one of type `type`. The text must
   read back as the same tokens: dots never touch dots or `...`, `::` never touches an
   operator, and a word after a [ that is no quoted identifier stays apart from it. */
static inline int
needs_space(const normalizer *n, token_type type)
{
    switch (n->last) {
        case TOKEN_END:
        case TOKEN_OPEN:
        case TOKEN_LBRACKET:
        case TOKEN_CAST:
            return 0;
        case TOKEN_LBRACKET_START:
            return type == TOKEN_WORD;
        case TOKEN_DOT:
            return type == TOKEN_DOT || type == TOKEN_ELLIPSIS;
        default:
            break;
    }
    switch (type) {
        case TOKEN_CLOSE:
        case TOKEN_RBRACKET:
        case TOKEN_COMMA:
        case TOKEN_SEMICOLON:
        case TOKEN_LBRACKET:
            return 0;
        case TOKEN_CAST:
            return n->last == TOKEN_OPERATOR;
        case TOKEN_DOT:
            return n->last == TOKEN_ELLIPSIS;
        case TOKEN_OPEN:
            return !(n->last == TOKEN_QUOTED ||
                     (n->last == TOKEN_WORD && !(n->last_keyword & KW_CLAUSE)));
        default:
            return 1;
    }
}

#define FNV_OFFSET_BASIS 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* One step of FNV-1a: folds one byte into the hash. */
static inline uint64_t
fnv_step(uint64_t hash, unsigned char byte)
{
    return (hash ^ byte) * FNV_PRIME;
}

/* Writes one token with the space it needs before it (and a pending ;), and folds each byte
   written into the id. Hashing here rather than after the loop lets the processor overlap
   the hash's chain of multiplications with the reading of the next tokens. */
static inline void
emit(normalizer *n, const token *t)
{
    if ((size_t)(n->limit - n->out) < t->length + 4 && grow(n, t->length + 4) < 0) {
        return;
    }
    uint64_t hash = n->hash; /* The id so far. */
    if (n->semicolon_pending) {
        n->semicolon_pending = 0;
        *n->out++ = ';';
        hash = fnv_step(hash, ';');
        n->last = TOKEN_SEMICOLON;
    }
    if (needs_space(n, t->type)) {
        *n->out++ = ' ';
        hash = fnv_step(hash, ' ');
    }
    switch (t->type) {
        case TOKEN_WORD:
            for (size_t i = 0; i < t->length; i++) {
                unsigned char byte = (unsigned char)t->text[i]; /* Lower-cased below. */
                byte = (unsigned char)((unsigned)(byte - 'A') < 26u ? byte + 32 : byte);
                n->out[i] = (char)byte;
                hash = fnv_step(hash, byte);
            }
            break;
        case TOKEN_QUOTED:
            for (size_t i = 0; i < t->length; i++) {
                unsigned char byte = t->text[i] != '\0' ? (unsigned char)t->text[i] : '?';
                n->out[i] = (char)byte;
                hash = fnv_step(hash, byte);
            }
            break;
        case TOKEN_LITERAL:
            assert(t->length == 1);
            *n->out = '?';
            hash = fnv_step(hash, '?');
            break;
        default:
            for (size_t i = 0; i < t->length; i++) {
                n->out[i] = t->text[i];
                hash = fnv_step(hash, (unsigned char)t->text[i]);
            }
            break;
    }
    n->out += t->length;
    n->hash = hash;
    n->last = t->type;
    n->last_keyword = t->keyword;
}

/* Notes a collapsed list of `items` items; the first one sets list_arity. */
static inline void
note_list(normalizer *n, uint32_t items)
{
    if (!(n->flags & RS_FP_HAS_LIST)) {
        n->flags |= RS_FP_HAS_LIST;
        n->list_arity = items;
    }
}

/* Writes the IN / ARRAY items held back, as they would have been written, and ends the list. */
static void
flush_list(normalizer *n)
{
    for (uint32_t item = 0; item < n->list_items; item++) {
        if (item > 0) {
            emit(n, &comma_token);
        }
        emit(n, &literal_token);
    }
    if (n->list == LIST_ITEM && n->list_items > 0) {
        emit(n, &comma_token);
    }
    n->list = LIST_NONE;
}

/* Ends a VALUES clause after its first row: writes `, ...` and the comma held back, if any. */
static void
finish_values(normalizer *n)
{
    int comma_held = n->values == VALUES_AFTER_COMMA; /* A comma waits after the rows. */
    emit(n, &comma_token);
    emit(n, &ellipsis_token);
    if (n->values_rows >= 2) {
        note_list(n, n->values_rows);
    }
    n->values = VALUES_NONE;
    if (comma_held) {
        emit(n, &comma_token);
    }
}

/* Applies the statement rules to a token: statement starts, names that become `?`, kind. */
static inline void
statement_rules(normalizer *n, token *t)
{
    if (t->type == TOKEN_SEMICOLON) {
        n->statement_start = 1;
        n->verb = KW_NONE;
        n->name_next = 0;
        n->kind_state = KIND_KNOWN;
        return;
    }
    if (t->type == TOKEN_WORD || t->type == TOKEN_QUOTED) {
        unsigned id = t->keyword & KW_ID_MASK; /* The keyword identity. */
        if (n->statement_start) {
            n->verb = id;
            n->name_next = (t->keyword & KW_NAMES_NEXT) != 0;
        }
        else if (n->verb == KW_FETCH || n->verb == KW_MOVE) {
            if (!(t->keyword & KW_DIRECTION)) {
                *t = literal_token;
            }
        }
        else if (n->name_next) {
            if ((id == KW_SAVEPOINT && (n->verb == KW_RELEASE || n->verb == KW_ROLLBACK)) ||
                (id == KW_PREPARE && n->verb == KW_DEALLOCATE)) {
                /* The optional noun before the name; the name comes next. */
            }
            else if ((id == KW_ALL && (n->verb == KW_CLOSE || n->verb == KW_DEALLOCATE)) ||
                     (id == KW_TRANSACTION && n->verb == KW_PREPARE)) {
                n->name_next = 0;
            }
            else {
                *t = literal_token;
                n->name_next = 0;
            }
        }
        else if (n->verb == KW_ROLLBACK && id == KW_TO) {
            n->name_next = 1;
        }
    }
    else {
        n->name_next = 0;
    }
    n->statement_start = 0;

    if (n->kind_state != KIND_KNOWN && t->type == TOKEN_WORD) {
        if (n->kind_state == KIND_FIRST_WORD && (t->keyword & KW_ID_MASK) == KW_WITH) {
            n->kind_state = KIND_IN_WITH;
            n->with_depth = n->depth;
        }
        else if (n->kind_state == KIND_FIRST_WORD ||
                 (n->depth == n->with_depth && (t->keyword & KW_MAIN_VERB))) {
            n->kind_state = KIND_KNOWN;
            n->kind = (t->keyword & KW_READ)       ? RS_STMT_READ
                      : (t->keyword & KW_WRITE)    ? RS_STMT_WRITE
                      : (t->keyword & KW_TRANSACT) ? RS_STMT_TRANSACTION
                                                   : RS_STMT_OTHER;
        }
    }
}

/* Handles one token through the machines, in order: dropped VALUES rows, statement rules,
   the end of a VALUES clause, IN / ARRAY lists, then the plain path that writes it. */
static void
process(normalizer *n, token *t)
{
    if (n->values == VALUES_SKIP_ROW) {
        if (t->type == TOKEN_OPEN) {
            n->depth++;
        }
        else if (t->type == TOKEN_CLOSE && n->depth > 0 && --n->depth == n->values_depth) {
            n->values = VALUES_AFTER_ROW;
        }
        return;
    }

    statement_rules(n, t);

    if (n->values == VALUES_AFTER_ROW) {
        if (t->type == TOKEN_COMMA) {
            n->values = VALUES_AFTER_COMMA;
            return;
        }
        finish_values(n);
    }
    else if (n->values == VALUES_AFTER_COMMA) {
        if (t->type == TOKEN_OPEN) {
            n->values = VALUES_SKIP_ROW;
            n->values_rows++;
            n->depth++;
            return;
        }
        if (t->type == TOKEN_ELLIPSIS) {
            /* The mark of rows collapsed before: the clause ends here, as it did then. */
            n->values = VALUES_AFTER_ROW;
            finish_values(n);
            return;
        }
        finish_values(n);
    }
    else if (n->values == VALUES_FIRST_ROW && t->type == TOKEN_SEMICOLON) {
        n->values = VALUES_NONE;
    }

    if (n->list != LIST_NONE) {
        if (n->list == LIST_ITEM && t->type == TOKEN_LITERAL) {
            n->list_items++;
            n->list = LIST_COMMA;
            return;
        }
        if (n->list == LIST_COMMA && t->type == TOKEN_COMMA) {
            n->list = LIST_ITEM;
            return;
        }
        if (n->list == LIST_COMMA && t->type == n->list_closer) {
            if (n->list_items >= 2) {
                emit(n, &ellipsis_token);
                note_list(n, n->list_items);
            }
            else {
                emit(n, &literal_token);
            }
            n->list = LIST_NONE;
        }
        else {
            flush_list(n);
        }
    }

    int opens_list =
        (n->in_pending && t->type == TOKEN_OPEN) || (n->array_pending && t->type == TOKEN_LBRACKET);
    int opens_values = n->values_pending && t->type == TOKEN_OPEN;
    n->in_pending = 0;
    n->array_pending = 0;
    n->values_pending = 0;

    switch (t->type) {
        case TOKEN_SEMICOLON:
            if (n->last != TOKEN_END) {
                n->semicolon_pending = 1;
            }
            return;
        case TOKEN_OPEN:
            if (opens_values) {
                n->values = VALUES_FIRST_ROW;
                n->values_depth = n->depth;
                n->values_rows = 1;
            }
            n->depth++;
            break;
        case TOKEN_CLOSE:
            if (n->depth > 0 && --n->depth == n->values_depth && n->values == VALUES_FIRST_ROW) {
                n->values = VALUES_AFTER_ROW;
            }
            break;
        case TOKEN_WORD: {
            unsigned id = t->keyword & KW_ID_MASK; /* The keyword identity. */
            n->in_pending = id == KW_IN;
            n->array_pending = id == KW_ARRAY;
            n->values_pending = id == KW_VALUES && n->values == VALUES_NONE &&
                                n->prev != TOKEN_OPERATOR && n->prev != TOKEN_CAST &&
                                n->prev != TOKEN_DOT;
            break;
        }
        default:
            break;
    }
    emit(n, t);
    if (opens_list) {
        n->list = LIST_ITEM;
        n->list_items = 0;
        n->list_closer = t->type == TOKEN_OPEN ? TOKEN_CLOSE : TOKEN_RBRACKET;
    }
}

/* ---------------- API implementation ---------------- */

uint64_t
rs_fp_hash(const char *text, size_t length)
{
    uint64_t hash = FNV_OFFSET_BASIS;
    for (size_t i = 0; i < length; i++) {
        hash = fnv_step(hash, (unsigned char)text[i]);
    }
    return hash;
}

int
rs_fp_normalize(const char *sql, size_t length, rs_fingerprint *out)
{
    memset(out, 0, sizeof(*out));
    pthread_once(&keyword_slots_once, build_keyword_slots);

    normalizer n;
    memset(&n, 0, sizeof(n));
    if (length > RS_FP_MAX_INPUT) {
        length = RS_FP_MAX_INPUT;
        n.flags |= RS_FP_TRUNCATED;
    }
    size_t capacity = length + 64; /* Typical output is shorter than the input. */
    n.buffer = rs_raw_malloc(capacity);
    if (n.buffer == NULL) {
        return -1;
    }
    n.out = n.buffer;
    n.limit = n.buffer + capacity;
    n.statement_start = 1;
    n.hash = FNV_OFFSET_BASIS;

    const char *p = sql;            /* Read position. */
    const char *end = sql + length; /* End of what is examined. */
    token t;                        /* The token just read. */
    for (;;) {
        p = next_token(p, end, !ends_operand(n.prev, n.prev_keyword), &t);
        if (t.type == TOKEN_END) {
            break;
        }
        process(&n, &t);
        n.prev = t.type;
        n.prev_keyword = t.keyword;
    }
    if (n.list != LIST_NONE) {
        flush_list(&n);
    }
    if (n.values == VALUES_AFTER_ROW || n.values == VALUES_AFTER_COMMA ||
        n.values == VALUES_SKIP_ROW) {
        finish_values(&n);
    }
    if (n.failed || ((size_t)(n.limit - n.out) < 1 && grow(&n, 1) < 0)) {
        rs_raw_free(n.buffer);
        return -1;
    }
    *n.out = '\0';

    out->text = n.buffer;
    out->length = (size_t)(n.out - n.buffer);
    out->id = n.hash;
    assert(out->id == rs_fp_hash(out->text, out->length));
    out->kind = n.kind;
    out->flags = n.flags;
    out->list_arity = n.list_arity;
    return 0;
}

void
rs_fp_release(rs_fingerprint *fp)
{
    rs_raw_free(fp->text);
    memset(fp, 0, sizeof(*fp));
}
