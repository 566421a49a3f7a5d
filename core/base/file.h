// Whole-file reads and atomic writes: a save that fails leaves the old file as it was.
#pragma once
#include <string>
#include <string_view>

#include "base/result.h"

namespace base {

/// Writes `content` to `path` through a temporary file in the same folder, fsync and a rename.
Status write_file_atomic(const std::string& path, std::string_view content);
/// The whole file, or an error naming the path and the reason.
Result<std::string> read_file(const std::string& path);

}  // namespace base
