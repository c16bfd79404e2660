#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::common {

// Replaces `path` with `content` so that a reader sees the old file or the whole new one,
// never a part: a fresh temporary file beside it (mkostemp, O_EXCL: a planted file or
// symlink is never written through), written, fsync'ed, given `mode`, then renamed over
// `path`. Blocking: run it on the blocking pool. kInternal naming the path and the
// system's reason on failure; the temporary file is removed then.
common::Status WriteFileAtomically(const std::string& path, std::string_view content,
                                   mode_t mode = 0640);

}  // namespace aragora::common
