#pragma once
// Never half-written files: bytes go to a temporary file in the target's
// directory, which is fsync'ed and renamed over the target only on commit()
// (rename is atomic within a filesystem), then the directory is fsync'ed so
// the rename itself survives a crash. Destroying an uncommitted AtomicFile
// removes the temporary and leaves any previous target untouched.
// An existing target is replaced only when it is a regular, writable file:
// symlinks, devices, FIFOs, sockets and read-only files are refused.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace perceptra {

class AtomicFile {
 public:
  // Throws InputError(path, ...) when the temporary cannot be created (missing
  // or read-only directory).
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  void commit();
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }
  uint64_t bytes_written() const { return written_; }

  // Fault injection for tests: the next writes fail (as a full disk would)
  // once this many bytes have been written in total; < 0 disables.
  static void fail_after_bytes_for_testing(int64_t n);

 private:
  void flush();
  std::string path_, temp_;
  int fd_ = -1;
  std::vector<char> buf_;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Removes ".<name>.tmp-<pid>-<n>" temporaries in `dir` whose writer process
// no longer exists (left by kill -9 mid-write). AtomicFile does this for its
// target's directory; returns how many were removed.
int clean_stale_temp_files(const std::string& dir);

// Convenience: body writes into the file; commits when body returns.
void write_file_atomically(const std::string& path, const std::function<void(AtomicFile&)>& body);

}  // namespace perceptra
