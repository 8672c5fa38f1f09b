/*
 * runner.h: reqscope's tiny C test runner, in the style of libuv's test/runner.h.
 *
 * A test file includes this header and defines tests with TEST_IMPL(name) { ... }. Each test
 * registers itself before main() through a constructor, so adding a test_*.c file to tests/c
 * is all it takes: the Makefile compiles every one of them into one binary with runner.c.
 * The ASSERT macros report the failing expression with its file and line and return from the
 * test, so a test body and any helper that asserts must return void.
 */
#ifndef RS_TEST_RUNNER_H
#define RS_TEST_RUNNER_H

#include <stdint.h>
#include <string.h>

typedef void (*rs_test_function)(void);

/* Adds a test to the registry; called by the constructors that TEST_IMPL defines. */
void rs__test_register(const char *name, rs_test_function function);

/* Marks the running test failed and prints why; the macros below call it. */
void rs__test_fail(const char *file, int line, const char *message);

/* Marks the running test failed on two unequal integers or strings, printing both. */
void rs__test_fail_integers(const char *file, int line, const char *expression, intmax_t left,
                            intmax_t right);
void rs__test_fail_strings(const char *file, int line, const char *expression, const char *left,
                           const char *right);

#define TEST_IMPL(name)                                               \
    static void rs_test_##name(void);                                 \
    __attribute__((constructor)) static void rs_register_##name(void) \
    {                                                                 \
        rs__test_register(#name, rs_test_##name);                     \
    }                                                                 \
    static void rs_test_##name(void)

#define ASSERT(expression)                                                \
    do {                                                                  \
        if (!(expression)) {                                              \
            rs__test_fail(__FILE__, __LINE__, "ASSERT(" #expression ")"); \
            return;                                                       \
        }                                                                 \
    } while (0)

/* Integer equality; both sides are compared and printed as intmax_t. */
#define ASSERT_EQ(left, right)                                                             \
    do {                                                                                   \
        intmax_t rs__left = (intmax_t)(left);                                              \
        intmax_t rs__right = (intmax_t)(right);                                            \
        if (rs__left != rs__right) {                                                       \
            rs__test_fail_integers(__FILE__, __LINE__, "ASSERT_EQ(" #left ", " #right ")", \
                                   rs__left, rs__right);                                   \
            return;                                                                        \
        }                                                                                  \
    } while (0)

#define ASSERT_NE(left, right) ASSERT((left) != (right))

/* String equality; a NULL side is printed as (null) and equals only NULL. */
#define ASSERT_STREQ(left, right)                                                            \
    do {                                                                                     \
        const char *rs__left = (left);                                                       \
        const char *rs__right = (right);                                                     \
        if ((rs__left == NULL || rs__right == NULL) ? rs__left != rs__right                  \
                                                    : strcmp(rs__left, rs__right) != 0) {    \
            rs__test_fail_strings(__FILE__, __LINE__, "ASSERT_STREQ(" #left ", " #right ")", \
                                  rs__left, rs__right);                                      \
            return;                                                                          \
        }                                                                                    \
    } while (0)

#endif /* RS_TEST_RUNNER_H */
