/*
 * params.c: keyed parameter digests (see params.h).
 *
 * Each value becomes one 64-bit word from its type and content (ints and floats by value, str
 * and bytes by their cached hash, containers recursively, at most PARAMS_MAX_DEPTH deep); the
 * words are absorbed by SipHash-1-3 under the secret key. Built-in types never run Python code
 * here; bytearray and memoryview count by content; other types use their __hash__, and an
 * unhashable value makes the digest unique (never a false duplicate).
 */
#include "params.h"

#include <sys/random.h>

#define PARAMS_MAX_DEPTH 4

/* The SipHash key. Written once at module init with the GIL, then only read. */
static uint64_t key0, key1;

/* Identity of one-shot executemany iterators, which we must not consume. */
static uint64_t unique_counter;

typedef struct {
    uint64_t v0, v1, v2, v3; /* SipHash state. */
    uint64_t words;          /* Words absorbed. */
} siphash;

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(s)                  \
    do {                             \
        (s)->v0 += (s)->v1;          \
        (s)->v1 = ROTL((s)->v1, 13); \
        (s)->v1 ^= (s)->v0;          \
        (s)->v0 = ROTL((s)->v0, 32); \
        (s)->v2 += (s)->v3;          \
        (s)->v3 = ROTL((s)->v3, 16); \
        (s)->v3 ^= (s)->v2;          \
        (s)->v0 += (s)->v3;          \
        (s)->v3 = ROTL((s)->v3, 21); \
        (s)->v3 ^= (s)->v0;          \
        (s)->v2 += (s)->v1;          \
        (s)->v1 = ROTL((s)->v1, 17); \
        (s)->v1 ^= (s)->v2;          \
        (s)->v2 = ROTL((s)->v2, 32); \
    } while (0)

static void
siphash_init(siphash *state)
{
    state->v0 = key0 ^ 0x736f6d6570736575ull;
    state->v1 = key1 ^ 0x646f72616e646f6dull;
    state->v2 = key0 ^ 0x6c7967656e657261ull;
    state->v3 = key1 ^ 0x7465646279746573ull;
    state->words = 0;
}

static void
siphash_absorb(siphash *state, uint64_t word)
{
    state->v3 ^= word;
    SIPROUND(state);
    state->v0 ^= word;
    state->words++;
}

static uint64_t
siphash_finish(siphash *state)
{
    siphash_absorb(state, state->words << 56);
    state->v2 ^= 0xff;
    SIPROUND(state);
    SIPROUND(state);
    SIPROUND(state);
    return state->v0 ^ state->v1 ^ state->v2 ^ state->v3;
}

int
rs_params_init(void)
{
    uint64_t key[2];
    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    key0 = key[0];
    key1 = key[1];
    return 0;
}

uint64_t
rs_params_hash_bytes(const void *data, size_t length)
{
    siphash state;
    const unsigned char *bytes = data;
    siphash_init(&state);
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        siphash_absorb(&state, word);
        bytes += 8;
        length -= 8;
    }
    uint64_t tail = (uint64_t)length << 56;
    for (size_t i = 0; i < length; i++) {
        tail |= (uint64_t)bytes[i] << (8 * i);
    }
    siphash_absorb(&state, tail);
    return siphash_finish(&state);
}

static void absorb_value(siphash *state, PyObject *value, int depth);

static void
absorb_sequence(siphash *state, PyObject *sequence, int depth)
{
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    PyObject **items = PySequence_Fast_ITEMS(sequence);
    siphash_absorb(state, (uint64_t)count);
    for (Py_ssize_t i = 0; i < count && i < PySequence_Fast_GET_SIZE(sequence); i++) {
        PyObject *item = Py_NewRef(items[i]); /* A __hash__ below may change the container. */
        absorb_value(state, item, depth + 1);
        Py_DECREF(item);
        items = PySequence_Fast_ITEMS(sequence);
    }
}

/* Mutable bytes (bytearray, memoryview) by their content, eight bytes a word. */
static void
absorb_buffer(siphash *state, PyObject *value)
{
    Py_buffer view;
    if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        siphash_absorb(state, ++unique_counter);
        return;
    }
    const unsigned char *bytes = view.buf;
    siphash_absorb(state, (uint64_t)view.len);
    for (Py_ssize_t at = 0; at < view.len; at += 8) {
        uint64_t word = 0;
        Py_ssize_t take = view.len - at < 8 ? view.len - at : 8;
        memcpy(&word, bytes + at, (size_t)take);
        siphash_absorb(state, word);
    }
    PyBuffer_Release(&view);
}

static void
absorb_value(siphash *state, PyObject *value, int depth)
{
    PyTypeObject *type = Py_TYPE(value);
    siphash_absorb(state, (uint64_t)(uintptr_t)type);
    if (value == Py_None) {
        return;
    }
    if (PyLong_CheckExact(value) || PyBool_Check(value)) {
        int overflow = 0;
        long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (!overflow) {
            siphash_absorb(state, (uint64_t)number);
            return;
        }
    }
    else if (PyFloat_CheckExact(value)) {
        double number = PyFloat_AS_DOUBLE(value);
        uint64_t bits;
        memcpy(&bits, &number, sizeof(bits));
        siphash_absorb(state, bits);
        return;
    }
    else if ((PyList_CheckExact(value) || PyTuple_CheckExact(value)) && depth < PARAMS_MAX_DEPTH) {
        absorb_sequence(state, value, depth);
        return;
    }
    else if (PyDict_CheckExact(value) && depth < PARAMS_MAX_DEPTH) {
        Py_ssize_t position = 0;
        PyObject *name, *item;
        siphash_absorb(state, (uint64_t)PyDict_GET_SIZE(value));
        while (PyDict_Next(value, &position, &name, &item)) {
            Py_INCREF(name); /* A __hash__ below may change the dict. */
            Py_INCREF(item);
            absorb_value(state, name, depth + 1);
            absorb_value(state, item, depth + 1);
            Py_DECREF(name);
            Py_DECREF(item);
        }
        return;
    }
    else if (PyByteArray_Check(value) || PyMemoryView_Check(value)) {
        absorb_buffer(state, value);
        return;
    }
    Py_hash_t hash = PyObject_Hash(value);
    if (hash == -1) {
        /* Unhashable: equal only to itself, and not even then (its address could be reused by
         * another value): never a duplicate, rather than a false one. */
        PyErr_Clear();
        siphash_absorb(state, ++unique_counter);
        return;
    }
    siphash_absorb(state, (uint64_t)hash);
}

uint64_t
rs_params_digest(PyObject *params, int many)
{
    siphash state;
    siphash_init(&state);
    if (params == NULL) {
        return siphash_finish(&state);
    }
    if (many && !(PyList_CheckExact(params) || PyTuple_CheckExact(params))) {
        siphash_absorb(&state, ++unique_counter);
        return siphash_finish(&state);
    }
    absorb_value(&state, params, 0);
    return siphash_finish(&state);
}
