/*
 * portable_gil.h: the GIL for the sampler thread of the portable build.
 *
 * The portable build (RS_PORTABLE, see setup.py) walks other threads' stacks with the public
 * frame API, which needs the GIL. The sampler thread gets its own PyThreadState, created on its
 * first tick and kept for its life, and takes the GIL with PyEval_RestoreThread and drops it
 * with PyEval_SaveThread once per tick. PyGILState_Ensure would do the same but, for a thread
 * with no state of its own, create and delete a PyThreadState on every tick, and it cannot be
 * told not to block during finalization.
 *
 * Finalization: CPython 3.11 and 3.12 end a non-main thread that takes the GIL once the
 * interpreter finalizes (PyThread_exit_thread), and free every thread state left. So the
 * sampler never takes the GIL while Py_IsFinalizing() says so, never holds a lock while it
 * waits for the GIL, and gives its thread state back before it idles or exits. The sampler
 * thread is joined at exit (atexit) before finalization starts, so in practice it never even
 * meets a finalizing interpreter; one started later (by a daemon thread) can only lose a tick.
 *
 * Fork: the thread state lives in a thread-local of the sampler thread. A forked child has no
 * sampler thread (CPython frees its thread state there), and a new sampler thread in the child
 * starts without one.
 *
 * The functions are called by the sampler thread only, never with sampler_lock held.
 */
#ifndef RS_PORTABLE_GIL_H
#define RS_PORTABLE_GIL_H

/* Takes the GIL, creating the thread state on first use. Returns 0 with the GIL held, or -1
 * without it when the interpreter finalizes or no thread state could be made. */
int rs_sampler_gil_take(void);

/* Drops the GIL taken by rs_sampler_gil_take. */
void rs_sampler_gil_drop(void);

/* Whether the calling sampler thread holds a thread state. */
int rs_sampler_gil_has_thread_state(void);

/* Deletes the calling sampler thread's thread state (taking the GIL briefly), before it idles or
 * exits; while the interpreter finalizes, leaves it to the interpreter, which frees it. */
void rs_sampler_gil_release_thread_state(void);

#endif /* RS_PORTABLE_GIL_H */
