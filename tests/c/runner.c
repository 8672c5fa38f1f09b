/*
 * runner.c: main() of the C unit tests.
 *
 * It runs every registered test in registration order, or only those named on the command
 * line, prints each name with ok or FAIL, then one closing line `N passed, M failed`, and
 * exits non-zero when a test failed. Tests run in one process, one after another.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

#define MAX_TESTS 1024 /* Far more than we write; a full registry aborts loudly. */

typedef struct {
    const char *name;
    rs_test_function function;
} registered_test;

/* Filled by constructors before main(), read-only afterwards. */
static registered_test tests[MAX_TESTS];
static size_t test_count;

/* Whether the running test has failed; reset before each test. */
static int current_failed;

void
rs__test_register(const char *name, rs_test_function function)
{
    if (test_count == MAX_TESTS) {
        fprintf(stderr, "runner: more than %d tests; raise MAX_TESTS\n", MAX_TESTS);
        abort();
    }
    tests[test_count].name = name;
    tests[test_count].function = function;
    test_count++;
}

void
rs__test_fail(const char *file, int line, const char *message)
{
    current_failed = 1;
    fprintf(stderr, "  %s:%d: %s failed\n", file, line, message);
}

void
rs__test_fail_integers(const char *file, int line, const char *expression, intmax_t left,
                       intmax_t right)
{
    current_failed = 1;
    fprintf(stderr, "  %s:%d: %s failed: %" PRIdMAX " != %" PRIdMAX "\n", file, line, expression,
            left, right);
}

void
rs__test_fail_strings(const char *file, int line, const char *expression, const char *left,
                      const char *right)
{
    current_failed = 1;
    fprintf(stderr, "  %s:%d: %s failed:\n    \"%s\"\n    \"%s\"\n", file, line, expression,
            left ? left : "(null)", right ? right : "(null)");
}

/* True when the test `name` was asked for: no names given, or one of them matches. */
static int
selected(const char *name, int argc, char **argv)
{
    if (argc < 2) {
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    size_t passed = 0;
    size_t failed = 0;
    for (size_t i = 0; i < test_count; i++) {
        if (!selected(tests[i].name, argc, argv)) {
            continue;
        }
        current_failed = 0;
        tests[i].function();
        printf("%s %s\n", current_failed ? "FAIL" : "ok  ", tests[i].name);
        fflush(stdout);
        if (current_failed) {
            failed++;
        }
        else {
            passed++;
        }
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed > 0 ? 1 : 0;
}
