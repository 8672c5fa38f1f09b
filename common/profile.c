/*
 * profile.c: reqscope.profile()'s per-request half, in C: ProfileBase's construction,
 * __enter__ and __exit__, and the entry of a new scope that the decorator shares.
 *
 * A server makes a profile object and enters and exits its scope once per request, and all of
 * it runs cold, after the request's own work: on the development VM each Python call on that
 * path cost about 3 us, and the path in Python made more than a dozen. Here it makes none in a
 * native build (the asyncio lookup of a CPU scope calls asyncio's C functions), once the
 * settings of each distinct set of overrides are made: reqscope._config makes and checks them
 * (its overridden()), and they are kept here, per the current settings. reqscope/_profile.py
 * keeps what is not per request: the decorator, start() and the async methods.
 *
 * The with-blocks open in a thread or task are one ContextVar, innermost first: a chain of
 * (profile, scope, rest) tuples, or None. One variable for all profile objects, so a shared
 * profile object ends the scope its own with-block began, and long-lived contexts (a server
 * thread's) never accumulate keys. Exiting removes the innermost block of its own profile,
 * wherever it is in the chain: blocks of one task may end out of order.
 */
#include "reqscope.h"

#include <structmember.h>

static PyObject *entered_var; /* ContextVar "reqscope.entered". */

/* reqscope._config, looked up at the first profile(): its globals (`_settings` is the current
 * Settings, or None until current() makes them), OVERRIDABLE (the names profile() overrides,
 * in the order overridden() takes their values), current() and overridden(). */
static PyObject *config_globals, *overridable, *config_current, *config_overridden;

/* Interned names, made once: a name made from a C string at each call was decoded and hashed
 * there (PyDict_GetItemString, PyObject_GetAttrString). */
static PyObject *str_settings, *str_core_options, *str_name, *str_on_report;

/* The current settings the caches are for (`cached_base`), their ScopeOptions, and the
 * Settings and ScopeOptions of each distinct set of overrides of them: a (settings, options)
 * tuple keyed by the overridden names' indexes, values and the values' types (so that cpu=1 is
 * not taken for cpu=True, which the settings refuse). New current settings empty it. */
static PyObject *cached_base, *cached_base_options, *overrides_cache;
#define OVERRIDES_CACHE_MAX 256

/* The most settings profile() overrides (OVERRIDABLE's length). */
#define MAX_SETTINGS 32

/* The last sets of overrides looked up, by the identity of their values: a call site passes the
 * same objects each time (True, a module's float), so profile() finds its settings here without
 * making and hashing a key, about 1.5 us cold after a request on the development VM. An entry
 * holds references to its values, so no other object can take their addresses while it is
 * kept. Emptied with overrides_cache. */
#define RECENT_OVERRIDES 4
typedef struct {
    PyObject *values[MAX_SETTINGS]; /* Strong; NULL for a setting not given. */
    PyObject *made;                 /* Strong (settings, options) tuple; NULL: an empty entry. */
} recent_overrides_entry;
static recent_overrides_entry recent_overrides[RECENT_OVERRIDES];
static int recent_overrides_next; /* The entry replaced next. */

typedef struct {
    PyObject_HEAD
    PyObject *name;      /* _name: str or None. */
    PyObject *settings;  /* _settings: reqscope._config.Settings. */
    PyObject *options;   /* _options: their ScopeOptions. */
    PyObject *on_report; /* _on_report: the decorator's, or NULL when not given. */
    PyObject *warn;      /* _warn: warn(settings, 1) at each entry (portable build), or None. */
} rs_profile;

static int
config_ready(void)
{
    if (config_globals != NULL) {
        return 0;
    }
    PyObject *module = PyImport_ImportModule("reqscope._config");
    if (module == NULL) {
        return -1;
    }
    PyObject *globals = PyModule_GetDict(module);
    overridable = Py_XNewRef(PyDict_GetItemString(globals, "OVERRIDABLE"));
    config_current = Py_XNewRef(PyDict_GetItemString(globals, "current"));
    config_overridden = Py_XNewRef(PyDict_GetItemString(globals, "overridden"));
    overrides_cache = PyDict_New();
    str_settings = PyUnicode_InternFromString("_settings");
    str_core_options = PyUnicode_InternFromString("_core_options");
    str_name = PyUnicode_InternFromString("name");
    str_on_report = PyUnicode_InternFromString("on_report");
    if (overridable == NULL || !PyTuple_CheckExact(overridable) || config_current == NULL ||
        config_overridden == NULL || overrides_cache == NULL || str_settings == NULL ||
        str_core_options == NULL || str_name == NULL || str_on_report == NULL) {
        Py_CLEAR(overridable);
        Py_CLEAR(config_current);
        Py_CLEAR(config_overridden);
        Py_CLEAR(overrides_cache);
        Py_CLEAR(str_settings);
        Py_CLEAR(str_core_options);
        Py_CLEAR(str_name);
        Py_CLEAR(str_on_report);
        Py_DECREF(module);
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ImportError, "reqscope._config is not what profile() needs");
        }
        return -1;
    }
    config_globals = Py_NewRef(globals);
    Py_DECREF(module);
    return 0;
}

/* A setting's value as profile() was given it: NULL when not given (or given None). */
static inline PyObject *
given_value(PyObject *value)
{
    return value == Py_None ? NULL : value;
}

/* The (settings, options) tuple kept for exactly these objects as `values`, borrowed; or NULL. */
static PyObject *
recent_overrides_find(PyObject **values, Py_ssize_t count)
{
    for (int e = 0; e < RECENT_OVERRIDES; e++) {
        const recent_overrides_entry *entry = &recent_overrides[e];
        Py_ssize_t same = 0; /* Leading values that are the entry's. */
        while (entry->made != NULL && same < count &&
               entry->values[same] == given_value(values[same])) {
            same++;
        }
        if (entry->made != NULL && same == count) {
            return entry->made;
        }
    }
    return NULL;
}

/* Releases what a recent entry held (a copy taken out of the table: releasing may run Python
 * code, which may look in the table). */
static void
release_recent_overrides(recent_overrides_entry *entry)
{
    for (int i = 0; i < MAX_SETTINGS; i++) {
        Py_XDECREF(entry->values[i]);
    }
    Py_XDECREF(entry->made);
}

/* Keeps `made` for these `values`, in place of the oldest entry. */
static void
recent_overrides_keep(PyObject **values, Py_ssize_t count, PyObject *made)
{
    recent_overrides_entry *entry = &recent_overrides[recent_overrides_next];
    recent_overrides_entry old = *entry;
    recent_overrides_next = (recent_overrides_next + 1) % RECENT_OVERRIDES;
    for (Py_ssize_t i = 0; i < MAX_SETTINGS; i++) {
        entry->values[i] = i < count ? Py_XNewRef(given_value(values[i])) : NULL;
    }
    entry->made = Py_NewRef(made);
    release_recent_overrides(&old);
}

static void
recent_overrides_clear(void)
{
    for (int e = 0; e < RECENT_OVERRIDES; e++) {
        recent_overrides_entry old = recent_overrides[e];
        memset(&recent_overrides[e], 0, sizeof(recent_overrides[e]));
        release_recent_overrides(&old);
    }
}

/* The current settings (a new reference), made by current() the first time; the caches are
 * made for them if they are new. */
static PyObject *
current_settings(void)
{
    PyObject *settings = PyDict_GetItemWithError(config_globals, str_settings);
    if (settings == NULL && PyErr_Occurred()) {
        return NULL;
    }
    settings = settings == NULL || settings == Py_None ? PyObject_CallNoArgs(config_current)
                                                       : Py_NewRef(settings);
    if (settings != NULL && settings != cached_base) {
        PyObject *options = PyObject_GetAttr(settings, str_core_options);
        if (options == NULL) {
            Py_DECREF(settings);
            return NULL;
        }
        PyDict_Clear(overrides_cache);
        recent_overrides_clear();
        Py_XSETREF(cached_base, Py_NewRef(settings));
        Py_XSETREF(cached_base_options, options);
    }
    return settings;
}

/* The key of the overrides in `values` (NULL or None for one not given) in overrides_cache: the
 * index, value and type of each given one, in order. */
static PyObject *
overrides_key(PyObject **values, Py_ssize_t count, Py_ssize_t given)
{
    PyObject *key = PyTuple_New(3 * given);
    for (Py_ssize_t i = 0, at = 0; key != NULL && i < count; i++) {
        if (values[i] == NULL || values[i] == Py_None) {
            continue;
        }
        PyObject *index = PyLong_FromSsize_t(i); /* A small int: cached, never made. */
        if (index == NULL) {
            Py_CLEAR(key);
            break;
        }
        PyTuple_SET_ITEM(key, at++, index);
        PyTuple_SET_ITEM(key, at++, Py_NewRef(values[i]));
        PyTuple_SET_ITEM(key, at++, Py_NewRef((PyObject *)Py_TYPE(values[i])));
    }
    return key;
}

/* Makes the Settings for `values` over `base` with overridden() and caches them with their
 * ScopeOptions under `key` (NULL: not cacheable). Returns the (settings, options) tuple, a new
 * reference, or NULL with the settings' error (ConfigError, naming the setting). */
static PyObject *
make_overridden(PyObject **values, Py_ssize_t count, PyObject *base, PyObject *key)
{
    PyObject *given = PyTuple_New(count);
    for (Py_ssize_t i = 0; given != NULL && i < count; i++) {
        PyTuple_SET_ITEM(given, i, Py_NewRef(values[i] != NULL ? values[i] : Py_None));
    }
    PyObject *settings =
        given != NULL ? PyObject_CallFunctionObjArgs(config_overridden, given, base, NULL) : NULL;
    Py_XDECREF(given);
    PyObject *options = settings != NULL ? PyObject_GetAttr(settings, str_core_options) : NULL;
    PyObject *made = options != NULL ? PyTuple_Pack(2, settings, options) : NULL;
    Py_XDECREF(settings);
    Py_XDECREF(options);
    /* Made from `base`, kept only while it is current: overridden() runs Python code, during
     * which another thread may configure() new settings. */
    if (made != NULL && key != NULL && cached_base == base &&
        PyDict_GET_SIZE(overrides_cache) < OVERRIDES_CACHE_MAX &&
        PyDict_SetItem(overrides_cache, key, made) < 0) {
        Py_CLEAR(made);
    }
    return made;
}

/* The Settings for `values` (one per OVERRIDABLE name; NULL or None keeps the current one) and
 * their ScopeOptions, new references in `*settings` and `*options`. Returns 0, or -1 with the
 * settings' error (ConfigError, naming the setting). */
static int
settings_for(PyObject **values, Py_ssize_t count, PyObject **settings, PyObject **options)
{
    PyObject *base = current_settings();
    if (base == NULL) {
        return -1;
    }
    Py_ssize_t given = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        given += values[i] != NULL && values[i] != Py_None;
    }
    if (given == 0) {
        *settings = base;
        *options = Py_NewRef(cached_base_options);
        return 0;
    }
    PyObject *made = recent_overrides_find(values, count);
    if (made != NULL) {
        Py_DECREF(base);
        *settings = Py_NewRef(PyTuple_GET_ITEM(made, 0));
        *options = Py_NewRef(PyTuple_GET_ITEM(made, 1));
        return 0;
    }
    PyObject *key = overrides_key(values, count, given);
    made = key != NULL ? PyDict_GetItemWithError(overrides_cache, key) : NULL;
    Py_XINCREF(made);
    if (made == NULL && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
            Py_XDECREF(key);
            Py_DECREF(base);
            return -1;
        }
        PyErr_Clear(); /* An unhashable value: overridden() names the setting. */
        Py_CLEAR(key);
    }
    if (made == NULL) {
        made = make_overridden(values, count, base, key);
    }
    /* Kept by identity only for hashable values (a list can change under the same identity),
     * and only while the settings they were made from are current. */
    if (made != NULL && key != NULL && cached_base == base) {
        recent_overrides_keep(values, count, made);
    }
    Py_XDECREF(key);
    Py_DECREF(base);
    if (made == NULL) {
        return -1;
    }
    *settings = Py_NewRef(PyTuple_GET_ITEM(made, 0));
    *options = Py_NewRef(PyTuple_GET_ITEM(made, 1));
    Py_DECREF(made);
    return 0;
}

/* What a keyword of profile() is: an index in OVERRIDABLE, or one of these. */
#define KEYWORD_UNKNOWN -1
#define KEYWORD_NAME -2
#define KEYWORD_ON_REPORT -3

/* What the str `key` names; interned keywords (those written in a call) by identity. */
static Py_ssize_t
keyword_kind(PyObject *key)
{
    Py_ssize_t count = PyTuple_GET_SIZE(overridable);
    for (int by_value = 0; by_value < 2; by_value++) {
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *known = PyTuple_GET_ITEM(overridable, i);
            if (known == key || (by_value && PyUnicode_Compare(known, key) == 0)) {
                return i;
            }
        }
        if (key == str_name || (by_value && PyUnicode_Compare(key, str_name) == 0)) {
            return KEYWORD_NAME;
        }
        if (key == str_on_report || (by_value && PyUnicode_Compare(key, str_on_report) == 0)) {
            return KEYWORD_ON_REPORT;
        }
    }
    return KEYWORD_UNKNOWN;
}

/* Raises profile()'s TypeError for the keywords in `unknown` (a list), sorted and joined. */
static void
raise_unknown_keywords(PyObject *unknown)
{
    PyObject *separator = PyList_Sort(unknown) == 0 ? PyUnicode_FromString(", ") : NULL;
    PyObject *joined = separator != NULL ? PyUnicode_Join(separator, unknown) : NULL;
    if (joined != NULL) {
        PyErr_Format(PyExc_TypeError, "profile() got unknown argument(s): %U", joined);
    }
    Py_XDECREF(separator);
    Py_XDECREF(joined);
}

/* profile(name=None, *, <any of OVERRIDABLE>=None, on_report=print_console): the settings are
 * checked here, so a bad one raises where the profile is made. */
static int
profile_init(rs_profile *self, PyObject *args, PyObject *kwargs)
{
    if (config_ready() < 0) {
        return -1;
    }
    if (PyTuple_GET_SIZE(args) > 1) {
        PyErr_Format(PyExc_TypeError,
                     "profile() takes at most 1 positional argument (the name), %zd given",
                     PyTuple_GET_SIZE(args));
        return -1;
    }
    PyObject *name = PyTuple_GET_SIZE(args) == 1 ? PyTuple_GET_ITEM(args, 0) : NULL;
    PyObject *on_report = NULL;
    PyObject *values[MAX_SETTINGS] = {NULL};
    Py_ssize_t count = PyTuple_GET_SIZE(overridable);
    if (count > MAX_SETTINGS) {
        PyErr_SetString(PyExc_SystemError, "profile(): too many settings");
        return -1;
    }
    /* One pass over the keywords; unknown ones are reported first, all of them at once. */
    PyObject *unknown = NULL;
    int name_twice = 0;
    PyObject *key, *value;
    Py_ssize_t position = 0;
    while (kwargs != NULL && PyDict_Next(kwargs, &position, &key, &value)) {
        Py_ssize_t kind = PyUnicode_Check(key) ? keyword_kind(key) : KEYWORD_UNKNOWN;
        if (kind >= 0) {
            values[kind] = value;
        }
        else if (kind == KEYWORD_ON_REPORT) {
            on_report = value;
        }
        else if (kind == KEYWORD_NAME) {
            name_twice = name != NULL;
            name = value;
        }
        else if ((unknown == NULL && (unknown = PyList_New(0)) == NULL) ||
                 PyList_Append(unknown, key) < 0) {
            Py_XDECREF(unknown);
            return -1;
        }
    }
    if (unknown != NULL) {
        raise_unknown_keywords(unknown);
        Py_DECREF(unknown);
        return -1;
    }
    if (name_twice) {
        PyErr_SetString(PyExc_TypeError, "profile() got multiple values for 'name'");
        return -1;
    }
    name = name != NULL ? name : Py_None;
    if (name != Py_None && !PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "profile name must be a str, not %.100s",
                     Py_TYPE(name)->tp_name);
        return -1;
    }
    PyObject *settings, *options;
    if (settings_for(values, count, &settings, &options) < 0) {
        return -1;
    }
    PyObject *warn = NULL;
#ifdef RS_PORTABLE
    /* What the portable build calls at each entry to warn (once) about what it degrades. */
    PyObject *portable = PyImport_ImportModule("reqscope._portable");
    warn = portable != NULL ? PyObject_CallMethod(portable, "warning_for", "O", settings) : NULL;
    Py_XDECREF(portable);
    if (warn == NULL) {
        Py_DECREF(settings);
        Py_DECREF(options);
        return -1;
    }
#endif
    Py_XSETREF(self->name, Py_NewRef(name));
    Py_XSETREF(self->settings, settings);
    Py_XSETREF(self->options, options);
    Py_XSETREF(self->on_report, Py_XNewRef(on_report));
    Py_XSETREF(self->warn, warn);
    return 0;
}

/* asyncio as last seen in sys.modules, and its _get_running_loop and current_task: looked up
 * again only when sys.modules holds another module (a program that re-imports asyncio). Looking
 * them up by name at every CPU scope's entry made and hashed a str each time, about 2 us cold
 * after a Django request on the development VM. Protected by the GIL. */
static PyObject *str_asyncio, *asyncio_seen, *get_running_loop, *current_task;

/* Points the cache above at `asyncio` (a module from sys.modules). Returns 0, or -1 when it
 * lacks either function (an asyncio still being imported, which runs no loop yet): the cache is
 * then empty, no exception is set, and the next entry looks again. */
static int
see_asyncio(PyObject *asyncio)
{
    PyObject *loop_getter = PyObject_GetAttrString(asyncio, "_get_running_loop");
    PyObject *task_getter =
        loop_getter != NULL ? PyObject_GetAttrString(asyncio, "current_task") : NULL;
    Py_CLEAR(asyncio_seen);
    Py_XSETREF(get_running_loop, task_getter != NULL ? loop_getter : NULL);
    Py_XSETREF(current_task, task_getter);
    if (task_getter == NULL) {
        Py_XDECREF(loop_getter);
        PyErr_Clear();
        return -1;
    }
    asyncio_seen = Py_NewRef(asyncio);
    return 0;
}

/* The running asyncio task's root coroutine (a new reference), for a CPU scope to sample its
 * awaits; NULL without an exception when there is none, NULL with one on error. asyncio is
 * looked up, not imported: a program that never imported it runs no task. */
static PyObject *
task_root_coroutine(void)
{
    if (str_asyncio == NULL && (str_asyncio = PyUnicode_InternFromString("asyncio")) == NULL) {
        return NULL;
    }
    /* sys.modules read directly: PyImport_GetModule also asks the module's __spec__ whether it
     * is still initializing, an AttributeError raised and cleared each time (about 1 us). */
    PyObject *asyncio = PyDict_GetItemWithError(PyImport_GetModuleDict(), str_asyncio);
    if (asyncio == NULL || asyncio == Py_None) {
        return NULL; /* Not imported, blocked (None in sys.modules), or an error. */
    }
    if (asyncio != asyncio_seen) {
        Py_INCREF(asyncio); /* Borrowed, and looking its functions up may run Python code. */
        int seen = see_asyncio(asyncio);
        Py_DECREF(asyncio);
        if (seen < 0) {
            return NULL;
        }
    }
    PyObject *coroutine = NULL;
    PyObject *loop = PyObject_CallNoArgs(get_running_loop);
    if (loop != NULL && loop != Py_None) {
        PyObject *task = PyObject_CallNoArgs(current_task);
        if (task != NULL && task != Py_None) {
            coroutine = PyObject_CallMethod(task, "get_coro", NULL);
            if (coroutine != NULL && !PyCoro_CheckExact(coroutine)) {
                Py_CLEAR(coroutine); /* A task of a coroutine-like object: not sampled. */
            }
        }
        Py_XDECREF(task);
    }
    Py_XDECREF(loop);
    return coroutine;
}

/* Enters the new `scope`, with the running task's root coroutine when it samples CPU. */
static int
enter_with_task(rs_scope *scope)
{
    PyObject *coroutine = NULL;
    if (scope->options.cpu) {
        coroutine = task_root_coroutine();
        if (coroutine == NULL && PyErr_Occurred()) {
            return -1;
        }
    }
    int entered = rs_scope_enter(scope, coroutine);
    Py_XDECREF(coroutine);
    return entered;
}

rs_scope *
rs_profile_begin(PyObject *name, PyObject *options)
{
    rs_scope *scope = rs_scope_new(name, options);
    if (scope != NULL && enter_with_task(scope) < 0) {
        Py_CLEAR(scope);
    }
    return scope;
}

/* profile.__enter__(): a new scope, entered, and its block first in this context's chain. */
static PyObject *
profile_enter(rs_profile *self, PyObject *unused)
{
    if (self->options == NULL) {
        PyErr_SetString(PyExc_TypeError, "profile.__init__ was not called");
        return NULL;
    }
    if (self->warn != NULL && self->warn != Py_None) {
        PyObject *warned = PyObject_CallFunction(self->warn, "Oi", self->settings, 1);
        if (warned == NULL) {
            return NULL; /* A warning turned into an error (python -W error). */
        }
        Py_DECREF(warned);
    }
    /* The block goes first in the chain before the scope is entered, so that nothing can fail
     * once it is: a failed entry takes the block out again. */
    PyObject *rest;
    if (PyContextVar_Get(entered_var, Py_None, &rest) < 0) {
        return NULL;
    }
    rs_scope *scope = rs_scope_new(self->name, self->options);
    PyObject *block = scope != NULL ? PyTuple_Pack(3, self, scope, rest) : NULL;
    Py_DECREF(rest);
    PyObject *token = block != NULL ? PyContextVar_Set(entered_var, block) : NULL;
    Py_XDECREF(block);
    if (token == NULL) {
        Py_XDECREF(scope);
        return NULL;
    }
    if (enter_with_task(scope) < 0) {
        rs_saved_error error = rs_error_save();
        if (PyContextVar_Reset(entered_var, token) < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        rs_error_restore(error);
        Py_CLEAR(scope);
    }
    Py_DECREF(token);
    return (PyObject *)scope;
}

/* Takes the innermost block of `self` out of this context's chain. Returns its scope (a new
 * reference), Py_None when `self` has no open block here, or NULL with an exception. The
 * blocks entered inside it and still open (an out-of-order exit) are linked again, in their
 * order, onto what followed it. */
static PyObject *
pop_block(rs_profile *self)
{
    PyObject *chain;
    if (PyContextVar_Get(entered_var, Py_None, &chain) < 0) {
        return NULL;
    }
    Py_ssize_t inner = 0; /* Blocks before ours. */
    PyObject *block = chain;
    while (block != Py_None && PyTuple_GET_ITEM(block, 0) != (PyObject *)self) {
        block = PyTuple_GET_ITEM(block, 2);
        inner++;
    }
    if (block == Py_None) {
        Py_DECREF(chain);
        return Py_NewRef(Py_None);
    }
    PyObject *rest = Py_NewRef(PyTuple_GET_ITEM(block, 2));
    for (Py_ssize_t relinked = inner; relinked > 0 && rest != NULL; relinked--) {
        PyObject *outer = chain; /* The relinked-th block, counted from the first. */
        for (Py_ssize_t i = 1; i < relinked; i++) {
            outer = PyTuple_GET_ITEM(outer, 2);
        }
        PyObject *relinked_block =
            PyTuple_Pack(3, PyTuple_GET_ITEM(outer, 0), PyTuple_GET_ITEM(outer, 1), rest);
        Py_SETREF(rest, relinked_block);
    }
    PyObject *token = rest != NULL ? PyContextVar_Set(entered_var, rest) : NULL;
    Py_XDECREF(rest);
    PyObject *scope = token != NULL ? Py_NewRef(PyTuple_GET_ITEM(block, 1)) : NULL;
    Py_XDECREF(token);
    Py_DECREF(chain);
    return scope;
}

/* profile.__exit__(*exc_info): ends the scope of this profile's innermost block here, unless
 * scope.close() already did; never swallows the block's exception. */
static PyObject *
profile_exit(rs_profile *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *scope = pop_block(self);
    if (scope == NULL) {
        return NULL;
    }
    int ended = 0;
    if (scope != Py_None && ((rs_scope *)scope)->state == RS_SCOPE_ACTIVE) {
        ended = rs_scope_exit((rs_scope *)scope);
    }
    Py_DECREF(scope);
    if (ended < 0) {
        return NULL;
    }
    Py_RETURN_FALSE;
}

static int
profile_traverse(rs_profile *self, visitproc visit, void *arg)
{
    Py_VISIT(self->name);
    Py_VISIT(self->settings);
    Py_VISIT(self->options);
    Py_VISIT(self->on_report);
    Py_VISIT(self->warn);
    return 0;
}

static int
profile_clear(rs_profile *self)
{
    Py_CLEAR(self->name);
    Py_CLEAR(self->settings);
    Py_CLEAR(self->options);
    Py_CLEAR(self->on_report);
    Py_CLEAR(self->warn);
    return 0;
}

/* Heap subclasses (reqscope.profile) get their type visited and released by CPython's
 * subtype_traverse and subtype_dealloc, around these. */
static void
profile_dealloc(rs_profile *self)
{
    PyObject_GC_UnTrack(self);
    profile_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef profile_methods[] = {
    {"__enter__", (PyCFunction)profile_enter, METH_NOARGS, "Enter a new scope; returns it."},
    {"__exit__", (PyCFunction)(void (*)(void))profile_exit, METH_FASTCALL,
     "End the scope this profile's innermost block entered here."},
    {NULL},
};

static PyMemberDef profile_members[] = {
    /* Read-only: __enter__ counts on what profile() made (a deleted name would be NULL). */
    {"_name", T_OBJECT, offsetof(rs_profile, name), READONLY, "The scope's name, or None."},
    {"_settings", T_OBJECT, offsetof(rs_profile, settings), READONLY, "The resolved Settings."},
    {"_options", T_OBJECT, offsetof(rs_profile, options), READONLY, "Their ScopeOptions."},
    {"_on_report", T_OBJECT_EX, offsetof(rs_profile, on_report), READONLY,
     "The decorator's on_report; unset when not given (the console summary)."},
    {"_warn", T_OBJECT, offsetof(rs_profile, warn), READONLY,
     "The portable build's warning, or None."},
    {NULL},
};

/* PyVarObject_HEAD_INIT ends without a comma, which clang-format cannot tell. */
/* clang-format off */
PyTypeObject rs_ProfileBaseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "reqscope._core.ProfileBase",
    .tp_basicsize = sizeof(rs_profile),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The base of reqscope.profile: its with-block entry and exit.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)profile_init,
    .tp_dealloc = (destructor)profile_dealloc,
    .tp_traverse = (traverseproc)profile_traverse,
    .tp_clear = (inquiry)profile_clear,
    .tp_methods = profile_methods,
    .tp_members = profile_members,
};
/* clang-format on */

int
rs_profile_init(void)
{
    if (PyType_Ready(&rs_ProfileBaseType) < 0) {
        return -1;
    }
    if (entered_var == NULL) {
        entered_var = PyContextVar_New("reqscope.entered", NULL);
    }
    return entered_var != NULL ? 0 : -1;
}
