// The core/base names the IR uses unqualified: its errors are base's Result, Error and Status,
// and its file format is read and written with base's Json.
#pragma once
#include "base/json.h"
#include "base/result.h"

namespace circuit {
using base::Error;
using base::Json;
using base::Result;
using base::Status;
}  // namespace circuit
