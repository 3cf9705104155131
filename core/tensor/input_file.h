#pragma once
// Reading input files without traps: a FIFO would block open() forever, a
// character device (/dev/zero, /dev/urandom) never ends, a directory gives a
// nameless stream error. Inputs must be regular files; the check is made on
// the opened descriptor (O_NONBLOCK, so opening a FIFO returns at once).
// Header-only: core/data, core/io and the CLI use it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/tensor/error.h"

namespace perceptra {

// Why `st` is not a readable regular file, or "" when it is.
inline std::string non_regular_reason(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return "";
  if (S_ISDIR(st.st_mode)) return "is a directory, expected a file";
  if (S_ISFIFO(st.st_mode)) return "is a FIFO (named pipe), expected a regular file";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "is a device, expected a regular file";
  if (S_ISSOCK(st.st_mode)) return "is a socket, expected a regular file";
  return "is not a regular file";
}

// Throws InputError(path, ...) unless path names an existing regular file
// (symlinks to one are fine for inputs).
inline void require_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) throw InputError(path, "no such file");
    throw InputError(path, std::string("cannot read: ") + std::strerror(errno));
  }
  std::string why = non_regular_reason(st);
  if (!why.empty()) throw InputError(path, why);
}

// The whole file, refusing non-regular files and files larger than
// max_bytes (named in the message as `what`).
inline std::string read_regular_file(const std::string& path, uint64_t max_bytes, const char* what = "file") {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) throw InputError(path, "cannot open: no such file");
    if (errno == EISDIR) throw InputError(path, "is a directory, expected a file");
    throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw InputError(path, std::string("cannot stat: ") + std::strerror(errno));
  std::string why = non_regular_reason(st);
  if (!why.empty()) throw InputError(path, why);
  const uint64_t size = uint64_t(st.st_size);
  if (size > max_bytes)
    throw InputError(path, std::string(what) + " is " + std::to_string(size) + " bytes, more than the limit of " +
                               std::to_string(max_bytes));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::string bytes(size_t(size), '\0');
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(path, std::string("read error: ") + std::strerror(errno));
    }
    if (n == 0) break;  // shrank while reading
    off += size_t(n);
  }
  if (off != bytes.size()) throw InputError(path, "file changed size while being read");
  return bytes;
}

}  // namespace perceptra
