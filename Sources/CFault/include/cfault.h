#ifndef LOSSCLI_CFAULT_H
#define LOSSCLI_CFAULT_H
// Process-level fault handling that must be async-signal-safe, hence C: a table of file
// mappings (so a SIGBUS from a file truncated under a mapping names the file), a table of
// temporary output files (removed on SIGBUS, SIGTERM, SIGINT, SIGHUP and on a fatal
// allocation failure), and the handlers themselves. The tables are fixed arrays of atomic
// slots: registering never allocates in a handler and a handler never takes a lock.
#include <stddef.h>

/// Records that [base, base+length) maps the file `path`. Returns the slot, or -1 when the
/// table is full (the caller then reads the file instead of mapping it).
int cfault_register_mapping(const void *base, size_t length, const char *path);
void cfault_unregister_mapping(int slot);

/// Records a temporary file to remove if the process is killed by a handled signal.
/// Returns the slot, or -1 when the table is full.
int cfault_register_temp(const char *path);
void cfault_unregister_temp(int slot);

/// Installs the handlers. `prefix` starts every message written to stderr
/// ("losscli: error: "). SIGBUS inside a registered mapping: one line naming the file,
/// temporaries removed, exit status 2. SIGTERM/SIGINT/SIGHUP: temporaries removed, exit
/// status 128 + the signal number. Calling it again only replaces the prefix.
void cfault_install(const char *prefix);

/// Writes prefix + message + newline to stderr, removes the temporaries, exits with `status`.
/// For failures that cannot be returned as errors (an allocation deep inside a kernel).
void cfault_fatal(const char *message, int status) __attribute__((noreturn));

/// The file system type (statfs f_type) of an open descriptor, or -1 (Linux only; the
/// Swift Glibc module does not export statfs).
long cfault_fs_type(int fd);

/// The number of registered temporaries (tests).
int cfault_temp_count(void);

/// 1 when this CPU runs what a release build for it may execute: on x86-64, AVX2 and FMA
/// (release builds there use `-target-cpu haswell`); on other architectures always 1.
/// Release builds on x86-64 (LOSSCLI_REQUIRE_AVX2) call it before main and, on 0, write
/// "losscli: error: " + cfault_cpu_unsupported_message() to stderr and exit with status 2.
int cfault_cpu_supported(void);
/// The one-line message (no prefix, no newline) for a CPU without AVX2 and FMA.
const char *cfault_cpu_unsupported_message(void);
#endif
