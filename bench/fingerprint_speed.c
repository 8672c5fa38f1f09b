/*
 * fingerprint_speed.c: how long rs_fp_normalize takes, with no Python in the loop.
 *
 * Three statements are fingerprinted over and over: a typical Django ORM SELECT given on the
 * command line, a 1 MB INSERT whose VALUES list has thousands of rows, and a 1 MB SELECT whose
 * IN list holds tens of thousands of ids. For each, a calibration pass picks how many
 * fingerprints make one round last about ROUND_TARGET_NS, then ROUNDS rounds are timed with
 * CLOCK_MONOTONIC; the nanoseconds per fingerprint of every round are sorted and the median,
 * minimum and maximum printed. Each fingerprint is released inside the loop, as the extension
 * does, so allocation is part of the cost.
 *
 * Usage: fingerprint_speed STATEMENT [ROUNDS]
 * Output: one tab-separated line per statement: name, bytes, items in its collapsed list (0
 * when none), median ns, min ns, max ns.
 * Exit status 1 when an argument is wrong, memory runs out or a large statement comes back
 * truncated or without its list collapsed (then the figure would not mean what it says).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fingerprint.h"

/* A round this long is well above clock resolution and short enough to dodge most noise. */
#define ROUND_TARGET_NS 50000000u
#define DEFAULT_ROUNDS 15
#define MAX_ROUNDS 101

/* Below RS_FP_MAX_INPUT (1 MiB), so the whole statement is examined. */
#define LARGE_STATEMENT_BYTES 1000000u

/* ---------------- Statements ---------------- */

/* Appends `piece` to `buffer` (`*length` bytes used); the caller has checked that it fits. */
static void
append_piece(char *buffer, size_t *length, const char *piece)
{
    size_t piece_length = strlen(piece);
    memcpy(buffer + *length, piece, piece_length);
    *length += piece_length;
}

/*
 * Builds a statement of at most `capacity` bytes (which must hold `head` and `tail`): `head`,
 * then rows made by `format_row` until the next row and `tail` would not fit, then `tail`. Returns
 * a malloc'ed buffer (not NUL-terminated) with its length in `*length`, or NULL when memory runs
 * out.
 */
static char *
build_list_statement(size_t capacity, const char *head, const char *tail,
                     void (*format_row)(char *row, size_t row_size, unsigned index), size_t *length)
{
    char *buffer = malloc(capacity);
    char row[128]; /* One formatted list item, with its leading separator. */
    size_t tail_length = strlen(tail);
    unsigned index = 0; /* Items written so far. */

    if (buffer == NULL) {
        return NULL;
    }
    *length = 0;
    append_piece(buffer, length, head);
    for (;;) {
        format_row(row, sizeof(row), index);
        if (*length + strlen(row) + tail_length > capacity) {
            break;
        }
        append_piece(buffer, length, row);
        index++;
    }
    append_piece(buffer, length, tail);
    return buffer;
}

static void
format_values_row(char *row, size_t row_size, unsigned index)
{
    snprintf(row, row_size, "%s(%u, 'Book title number %u', %u, '2024-%02u-%02u')",
             index ? ", " : "", index + 1, index + 1, index % 500 + 1, index % 12 + 1,
             index % 28 + 1);
}

static void
format_in_item(char *row, size_t row_size, unsigned index)
{
    snprintf(row, row_size, "%s%u", index ? ", " : "", 1000000 + index * 7);
}

/* ---------------- Timing ---------------- */

static int
compare_u64(const void *left, const void *right)
{
    uint64_t a = *(const uint64_t *)left, b = *(const uint64_t *)right;
    return (a > b) - (a < b);
}

/*
 * Fingerprints `sql` `iterations` times and returns the elapsed nanoseconds (at least 1), or
 * 0 when rs_fp_normalize ran out of memory.
 */
static uint64_t
time_batch(const char *sql, size_t length, uint64_t iterations)
{
    rs_fingerprint fingerprint;
    uint64_t start = rs_now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
        if (rs_fp_normalize(sql, length, &fingerprint) != 0) {
            return 0;
        }
        rs_fp_release(&fingerprint);
    }
    uint64_t elapsed = rs_now_ns() - start;
    return elapsed ? elapsed : 1;
}

/*
 * Checks that `sql` is fingerprinted whole and, when `expect_list`, that a list collapsed.
 * Returns the number of items in the first collapsed list (0 when none), or -1 with a
 * message on stderr when the check fails or memory runs out.
 */
static long
check_fingerprint(const char *name, const char *sql, size_t length, int expect_list)
{
    rs_fingerprint fingerprint;
    if (rs_fp_normalize(sql, length, &fingerprint) != 0) {
        fprintf(stderr, "fingerprint_speed: out of memory on %s\n", name);
        return -1;
    }
    int whole = !(fingerprint.flags & RS_FP_TRUNCATED);
    int collapsed = (fingerprint.flags & RS_FP_HAS_LIST) && fingerprint.length < 1000;
    long items = (long)fingerprint.list_arity;
    rs_fp_release(&fingerprint);
    if (!whole || (expect_list && !collapsed)) {
        fprintf(stderr, "fingerprint_speed: %s was %s\n", name,
                whole ? "not collapsed to a short text" : "truncated");
        return -1;
    }
    return items;
}

/*
 * Checks `sql` (see check_fingerprint), times `rounds` rounds of it and prints its line.
 * Returns 0, or -1 when the check failed or memory ran out.
 */
static int
measure(const char *name, const char *sql, size_t length, int expect_list, int rounds)
{
    uint64_t per_fingerprint[MAX_ROUNDS]; /* ns per fingerprint, one entry per round. */
    uint64_t iterations = 1;              /* Fingerprints per round, after calibration. */
    uint64_t elapsed;
    long items = check_fingerprint(name, sql, length, expect_list);

    if (items < 0) {
        return -1;
    }
    /* Calibrate: double the batch until it lasts a tenth of a round, then scale it up. */
    for (;;) {
        elapsed = time_batch(sql, length, iterations);
        if (elapsed == 0) {
            return -1;
        }
        if (elapsed >= ROUND_TARGET_NS / 10) {
            break;
        }
        iterations *= 2;
    }
    iterations = iterations * ROUND_TARGET_NS / elapsed;
    if (iterations == 0) {
        iterations = 1;
    }
    for (int round = 0; round < rounds; round++) {
        elapsed = time_batch(sql, length, iterations);
        if (elapsed == 0) {
            return -1;
        }
        per_fingerprint[round] = elapsed / iterations;
    }
    qsort(per_fingerprint, (size_t)rounds, sizeof(per_fingerprint[0]), compare_u64);
    printf("%s\t%zu\t%ld\t%llu\t%llu\t%llu\n", name, length, items,
           (unsigned long long)per_fingerprint[rounds / 2], (unsigned long long)per_fingerprint[0],
           (unsigned long long)per_fingerprint[rounds - 1]);
    return 0;
}

/* ---------------- Entry point ---------------- */

int
main(int argc, char **argv)
{
    static const char values_head[] =
        "INSERT INTO \"library_book\" (\"id\", \"title\", \"author_id\", \"published\") VALUES ";
    static const char in_head[] =
        "SELECT \"library_book\".\"id\", \"library_book\".\"title\" FROM \"library_book\" "
        "WHERE \"library_book\".\"id\" IN (";
    int rounds = argc > 2 ? atoi(argv[2]) : DEFAULT_ROUNDS;
    size_t values_length, in_length;
    char *values_statement, *in_statement;
    int status = 1;

    if (argc < 2 || argc > 3 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: %s STATEMENT [ROUNDS (1..%d)]\n", argv[0], MAX_ROUNDS);
        return 1;
    }
    values_statement = build_list_statement(LARGE_STATEMENT_BYTES, values_head, "",
                                            format_values_row, &values_length);
    in_statement =
        build_list_statement(LARGE_STATEMENT_BYTES, in_head, ")", format_in_item, &in_length);
    if (values_statement == NULL || in_statement == NULL) {
        fprintf(stderr, "fingerprint_speed: out of memory\n");
        goto done;
    }
    if (measure("typical_select", argv[1], strlen(argv[1]), 0, rounds) != 0 ||
        measure("insert_values", values_statement, values_length, 1, rounds) != 0 ||
        measure("select_in_list", in_statement, in_length, 1, rounds) != 0) {
        goto done;
    }
    status = 0;
done:
    free(values_statement);
    free(in_statement);
    return status;
}
