#include "cfault.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif

#define MAPPING_SLOTS 1024
#define TEMP_SLOTS 256
#define PREFIX_BYTES 64

struct mapping {
    // 0: free; 1: being filled; otherwise the start address (published last).
    _Atomic uintptr_t base;
    size_t length;
    char *path;
};

static struct mapping mappings[MAPPING_SLOTS];
static _Atomic(char *) temps[TEMP_SLOTS];
static char prefix[PREFIX_BYTES];

int cfault_register_mapping(const void *base, size_t length, const char *path) {
    char *copy = strdup(path);
    if (!copy) return -1;
    for (int i = 0; i < MAPPING_SLOTS; i++) {
        uintptr_t expected = 0;
        if (atomic_compare_exchange_strong(&mappings[i].base, &expected, (uintptr_t)1)) {
            mappings[i].length = length;
            mappings[i].path = copy;
            atomic_store_explicit(&mappings[i].base, (uintptr_t)base, memory_order_release);
            return i;
        }
    }
    free(copy);
    return -1;
}

void cfault_unregister_mapping(int slot) {
    if (slot < 0 || slot >= MAPPING_SLOTS) return;
    atomic_store(&mappings[slot].base, (uintptr_t)1);
    char *path = mappings[slot].path;
    mappings[slot].path = NULL;
    free(path);
    atomic_store(&mappings[slot].base, (uintptr_t)0);
}

int cfault_register_temp(const char *path) {
    char *copy = strdup(path);
    if (!copy) return -1;
    for (int i = 0; i < TEMP_SLOTS; i++) {
        char *expected = NULL;
        if (atomic_compare_exchange_strong(&temps[i], &expected, copy)) return i;
    }
    free(copy);
    return -1;
}

void cfault_unregister_temp(int slot) {
    if (slot < 0 || slot >= TEMP_SLOTS) return;
    free(atomic_exchange(&temps[slot], NULL));
}

int cfault_temp_count(void) {
    int n = 0;
    for (int i = 0; i < TEMP_SLOTS; i++) n += atomic_load(&temps[i]) != NULL;
    return n;
}

/// Async-signal-safe: unlink(2) only; the strings are not freed (the process is ending).
static void remove_temps(void) {
    for (int i = 0; i < TEMP_SLOTS; i++) {
        char *p = atomic_exchange(&temps[i], NULL);
        if (p) unlink(p);
    }
}

static void put(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void put_unsigned(uintptr_t v) {
    char digits[24];
    int i = (int)sizeof digits - 1;
    digits[i] = 0;
    do { digits[--i] = (char)('0' + v % 10); v /= 10; } while (v && i > 0);
    put(digits + i);
}

/// Set by the first thread that reports a truncated mapping. Several compute threads may fault
/// on the truncated pages at once: the others wait for that thread's `_exit` (a second report
/// would be a second line; a default action, as SA_RESETHAND gave, killed the process with
/// SIGBUS before the first one's message was out, seen under load in HostileRunTests).
static atomic_int bus_reported;

static void on_bus(int sig, siginfo_t *info, void *context) {
    (void)context;
    uintptr_t at = (uintptr_t)info->si_addr;
    for (int i = 0; i < MAPPING_SLOTS; i++) {
        uintptr_t base = atomic_load_explicit(&mappings[i].base, memory_order_acquire);
        if (base > 1 && at >= base && at - base < mappings[i].length && mappings[i].path) {
            if (atomic_exchange(&bus_reported, 1)) { for (;;) pause(); }
            put(prefix);
            put(mappings[i].path);
            put(": the file changed while it was being read (it now ends before byte ");
            put_unsigned(at - base);
            put(" of the ");
            put_unsigned(mappings[i].length);
            put(" it had when opened); was it rewritten or truncated by another process?\n");
            remove_temps();
            _exit(2);
        }
    }
    // Not one of our mappings: a genuine fault. Clean up, then die of it as usual.
    remove_temps();
    signal(sig, SIG_DFL);
}

static void on_termination(int sig) {
    remove_temps();
    _exit(128 + sig);
}

void cfault_install(const char *text) {
    size_t n = strlen(text);
    if (n >= PREFIX_BYTES) n = PREFIX_BYTES - 1;
    memcpy(prefix, text, n);
    prefix[n] = 0;

    struct sigaction bus;
    memset(&bus, 0, sizeof bus);
    bus.sa_sigaction = on_bus;
    // Not SA_RESETHAND: every thread that faults on a truncated mapping must reach on_bus.
    bus.sa_flags = SA_SIGINFO;
    sigemptyset(&bus.sa_mask);
    sigaction(SIGBUS, &bus, NULL);

    int terminating[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof terminating / sizeof terminating[0]; i++) {
        struct sigaction old;
        // A signal ignored by whoever started us (nohup: SIGHUP) stays ignored.
        if (sigaction(terminating[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        struct sigaction term;
        memset(&term, 0, sizeof term);
        term.sa_handler = on_termination;
        sigfillset(&term.sa_mask);
        sigaction(terminating[i], &term, NULL);
    }
}

void cfault_fatal(const char *message, int status) {
    put(prefix);
    put(message);
    put("\n");
    remove_temps();
    _exit(status);
}

long cfault_fs_type(int fd) {
#ifdef __linux__
    struct statfs fs;
    if (fstatfs(fd, &fs) != 0) return -1;
    return (long)fs.f_type;
#else
    (void)fd;
    return -1;
#endif
}
