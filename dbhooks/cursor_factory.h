/*
 * cursor_factory.h: _core.CursorFactory, a recording connection's cursor() (cursor_factory.c).
 */
#ifndef RS_CURSOR_FACTORY_H
#define RS_CURSOR_FACTORY_H

#include "reqscope.h"

extern PyTypeObject rs_CursorFactoryType;

/* Readies the type; -1 with an exception. */
int rs_cursor_factory_init(void);

#endif /* RS_CURSOR_FACTORY_H */
