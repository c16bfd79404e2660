#pragma once

// Shared by the fuzz targets: an invariant that must hold for every input. A violation
// aborts, which libFuzzer reports as a crash and saves the input.

#include <cstdio>
#include <cstdlib>

namespace aragora::fuzz {

inline void Check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
        std::abort();
    }
}

}  // namespace aragora::fuzz
