#include "cfault.h"

#include <unistd.h>

// Release builds on x86-64 compile the Swift targets with `-target-cpu haswell` (Package.swift),
// so they may execute AVX2 and FMA instructions anywhere; on a CPU without them the first one
// is a SIGILL. This file is compiled without that flag, and the constructor below runs before
// Swift's main, so the check itself cannot execute such an instruction.

static const char unsupported_message[] =
    "this losscli was built for x86-64 CPUs with AVX2 and FMA (Intel Core/Xeon from Haswell, "
    "2013; AMD from Excavator, 2015) and this CPU lacks them; a debug build (swift build) "
    "runs on any CPU, slower";

int cfault_cpu_supported(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    // __builtin_cpu_supports also requires the OS to save the ymm registers (OSXSAVE/XCR0).
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
#else
    return 1;  // other architectures are built without a CPU-specific flag
#endif
}

const char *cfault_cpu_unsupported_message(void) { return unsupported_message; }

#if defined(LOSSCLI_REQUIRE_AVX2) && defined(__x86_64__)
// Priority 101: the first of the executable's own prioritised constructors.
__attribute__((constructor(101))) static void cfault_cpu_require(void) {
    if (cfault_cpu_supported()) return;
    static const char prefix[] = "losscli: error: ";
    // write(2), not stdio: nothing else of the process has been set up yet.
    (void)!write(STDERR_FILENO, prefix, sizeof prefix - 1);
    (void)!write(STDERR_FILENO, unsupported_message, sizeof unsupported_message - 1);
    (void)!write(STDERR_FILENO, "\n", 1);
    _exit(2);
}
#endif
