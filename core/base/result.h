// Result<T>: a value or a user-facing error message. Errors a user can cause (bad file, shape
// mismatch) travel as values, never as exceptions across layer boundaries.
#pragma once
#include <string>
#include <utility>
#include <variant>

namespace base {

/// A user-facing error: what went wrong, already phrased with its location.
struct Error {
  std::string message;
};

/// Either a T or an Error. Small on purpose: C++20 has no std::expected.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Result of an operation that yields nothing but may fail.
struct Status {
  Status() = default;
  Status(Error e) : error(std::move(e.message)), failed(true) {}
  static Status fail(std::string m) { return Status(Error{std::move(m)}); }
  bool ok() const { return !failed; }
  explicit operator bool() const { return ok(); }
  std::string error;
  bool failed = false;
};

}  // namespace base
