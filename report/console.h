/*
 * console.h: what the console renderers share (console.c for a report, console_memory.c for
 * its memory lines and the growth view): the palette and the helpers that make report text
 * safe to print.
 */
#ifndef RS_CONSOLE_H
#define RS_CONSOLE_H

#include "report.h"

typedef struct {
    const char *bold, *red, *yellow, *magenta, *cyan, *dim, *reset;
} rs_palette;

extern const rs_palette rs_colours, rs_plain; /* ANSI, and empty strings. */

/* Text with control characters replaced by '?', cut to `width` characters with "...". */
PyObject *rs_printable(PyObject *text, Py_ssize_t width);

/* The file name relative to the working directory when it lies under it, printable. */
PyObject *rs_short_path(PyObject *file);

/* The lines joined by newlines: a new str, or NULL with an exception set. */
PyObject *rs_join_lines(PyObject *lines);

/* Appends `line` to `lines` and releases it. Returns 0, or -1 (line NULL or append failed). */
int rs_append_line(PyObject *lines, PyObject *line);

/* Appends the [MEM] summary and the top sites of a report's memory section. 0, or -1. */
int rs_console_memory_lines(PyObject *memory, const rs_palette *p, PyObject *lines);

/* The console text of reqscope.memory_growth()'s list. A new str, or NULL with an exception. */
PyObject *rs_render_growth(PyObject *sites, int color);

#endif /* RS_CONSOLE_H */
