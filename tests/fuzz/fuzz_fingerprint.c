/*
 * fuzz_fingerprint.c: libFuzzer target for the SQL fingerprint (run by tools/fuzz).
 *
 * Every input must give a fingerprint whose text is NUL-terminated with strlen == length,
 * whose id is the hash of the text, whose kind is a known one, and whose text is a fixed
 * point: normalizing it again gives the same text and id. Out of memory is the one allowed
 * failure, and it must leave the fingerprint empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"

/* Aborts (a finding for libFuzzer) when an invariant does not hold. */
static void
require(int condition)
{
    if (!condition) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_fingerprint fp;
    if (rs_fp_normalize((const char *)data, size, &fp) != 0) {
        require(fp.text == NULL);
        return 0;
    }
    require(fp.text != NULL);
    require(fp.text[fp.length] == '\0');
    require(strlen(fp.text) == fp.length);
    require(fp.id == rs_fp_hash(fp.text, fp.length));
    require(fp.kind >= RS_STMT_OTHER && fp.kind <= RS_STMT_TRANSACTION);
    require(!(fp.flags & RS_FP_TRUNCATED) == (size <= RS_FP_MAX_INPUT));
    require(!(fp.flags & RS_FP_HAS_LIST) == (fp.list_arity == 0));

    rs_fingerprint again;
    if (rs_fp_normalize(fp.text, fp.length, &again) == 0) {
        require(again.length == fp.length);
        require(memcmp(again.text, fp.text, fp.length) == 0);
        require(again.id == fp.id);
        rs_fp_release(&again);
    }
    rs_fp_release(&fp);
    require(fp.text == NULL);
    return 0;
}
