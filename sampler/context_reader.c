/*
 * context_reader.c: reqscope's ContextVar in another thread's context (see context_reader.h).
 *
 * The layouts are CPython's: PyContext and PyHamtObject from the internal headers of the
 * version we build against, the node structs (private to Python/hamt.c in 3.11, and unchanged
 * in layout from 3.11 to 3.13) mirrored here. Keys are compared by identity: nothing here
 * runs Python code or can raise, so the allocator hooks use the same walk with plain loads.
 */
#include "context_reader.h"

#include "safe_read.h"
#include "compat.h"

#include <string.h>

#define HAMT_MAX_LEVELS 7 /* 32-bit hashes, 5 bits per level. */
#define HAMT_ARRAY_SIZE 32

/* Python/hamt.c's bitmap and array nodes. */
typedef struct {
    PyObject_VAR_HEAD
    uint32_t b_bitmap;
    PyObject *b_array[1]; /* Key and value (or NULL and a child node), per set bit. */
} bitmap_node;

typedef struct {
    PyObject_HEAD
    PyObject *a_array[HAMT_ARRAY_SIZE]; /* Child nodes or NULL. */
    Py_ssize_t a_count;
} array_node;

/* Written once with the GIL before the sampler starts; read-only afterwards. */
static const void *variable_address;
static int32_t variable_hash;
static const void *bitmap_type, *array_type;

/* The type of the root node of a fresh context in which `count` variables were set. */
static PyTypeObject *
root_type_with(Py_ssize_t count)
{
    PyObject *context = PyContext_New();
    PyTypeObject *type = NULL;
    if (context == NULL || PyContext_Enter(context) < 0) {
        Py_XDECREF(context);
        return NULL;
    }
    PyObject *variables = PyList_New(0);
    for (Py_ssize_t i = 0; variables != NULL && i < count; i++) {
        PyObject *variable = PyContextVar_New("reqscope_probe", NULL);
        PyObject *token = variable ? PyContextVar_Set(variable, Py_None) : NULL;
        if (token == NULL || PyList_Append(variables, variable) < 0) {
            Py_CLEAR(variables);
        }
        Py_XDECREF(token);
        Py_XDECREF(variable);
    }
    if (variables != NULL) {
        const PyHamtObject *mapping = ((PyContext *)context)->ctx_vars;
        type = Py_TYPE((PyObject *)mapping->h_root);
    }
    PyContext_Exit(context);
    Py_XDECREF(variables);
    Py_DECREF(context);
    return type;
}

int
rs_context_reader_init(PyObject *variable)
{
    PyTypeObject *small = root_type_with(1);
    PyTypeObject *large = small ? root_type_with(64) : NULL; /* Past 16 keys: an array. */
    Py_hash_t hash = large ? PyObject_Hash(variable) : -1;
    if (small == NULL || large == NULL || hash == -1) {
        return -1;
    }
    if (small == large) {
        PyErr_SetString(PyExc_RuntimeError, "reqscope: unexpected contextvars layout");
        return -1;
    }
    bitmap_type = small;
    array_type = large;
    variable_address = variable;
    variable_hash = (int32_t)((uint64_t)hash & 0xffffffffu) ^ (int32_t)((uint64_t)hash >> 32);
    if (variable_hash == -1) {
        variable_hash = -2; /* As CPython's hamt_hash. */
    }
    return 0;
}

/* How a lookup reads memory: safe copies (another thread's, no GIL), or plain loads (the
 * calling thread's, GIL held). Returns 0, or -1 when the bytes could not be read. */
typedef int (*reader)(void *destination, const void *address, size_t size);

static int
plain_read(void *destination, const void *address, size_t size)
{
    memcpy(destination, address, size);
    return 0;
}

/* One level of CPython's lookup: the value, or the child node to go on with (*node), or
 * neither (not found or unreadable). */
static const void *
find_in_node(reader read, const void **node, uint32_t shift)
{
    const void *type = NULL;
    if (read(&type, (const char *)*node + offsetof(PyObject, ob_type), sizeof(type)) < 0) {
        return *node = NULL;
    }
    uint32_t slot = ((uint32_t)variable_hash >> shift) & 0x1f;
    if (type == array_type) {
        const void *child = NULL;
        const char *entry =
            (const char *)*node + offsetof(array_node, a_array) + (size_t)slot * sizeof(PyObject *);
        *node = read(&child, entry, sizeof(child)) == 0 ? child : NULL;
        return NULL;
    }
    uint32_t bitmap = 0;
    if (type != bitmap_type ||
        read(&bitmap, (const char *)*node + offsetof(bitmap_node, b_bitmap), sizeof(bitmap)) < 0 ||
        !(bitmap & (1u << slot))) {
        return *node = NULL;
    }
    int index = __builtin_popcount(bitmap & ((1u << slot) - 1));
    const void *pair[2] = {NULL, NULL};
    const char *entry = (const char *)*node + offsetof(bitmap_node, b_array) +
                        (size_t)(2 * index) * sizeof(PyObject *);
    if (read(pair, entry, sizeof(pair)) < 0) {
        return *node = NULL;
    }
    if (pair[0] == NULL) {
        *node = pair[1]; /* A child node. */
        return NULL;
    }
    *node = NULL;
    return pair[0] == variable_address ? pair[1] : NULL;
}

static const void *
lookup(reader read, const void *context)
{
    const void *mapping = NULL, *node = NULL;
    if (variable_address == NULL || context == NULL ||
        read(&mapping, (const char *)context + offsetof(PyContext, ctx_vars), sizeof(mapping)) <
            0 ||
        mapping == NULL ||
        read(&node, (const char *)mapping + offsetof(PyHamtObject, h_root), sizeof(node)) < 0) {
        return NULL;
    }
    for (uint32_t level = 0; node != NULL && level < HAMT_MAX_LEVELS; level++) {
        const void *value = find_in_node(read, &node, 5 * level);
        if (value != NULL) {
            return value;
        }
    }
    return NULL;
}

const void *
rs_context_reader_value(const void *context)
{
    return lookup(rs_safe_read, context);
}

const void *
rs_context_reader_current_value(void)
{
    PyThreadState *tstate = rs_compat_thread_state();
    return tstate != NULL ? lookup(plain_read, tstate->context) : NULL;
}
