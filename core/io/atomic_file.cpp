#include "core/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/tensor/error.h"

namespace fs = std::filesystem;

namespace perceptra {
namespace {
std::atomic<int64_t> g_fail_after{-1};
std::atomic<uint64_t> g_counter{0};
std::string errno_text() { return std::strerror(errno); }

// An existing target we may replace: a regular, writable file. A symlink
// would be replaced by a regular file (not its target written), a device,
// FIFO or socket would become a regular file (as root, --out /dev/null
// would replace the system node), a read-only file says "keep me".
void check_replaceable(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // absent: created
  if (S_ISLNK(st.st_mode)) throw InputError(path, "is a symbolic link; refusing to replace it (give the real path)");
  if (S_ISDIR(st.st_mode)) throw InputError(path, "is a directory");
  if (!S_ISREG(st.st_mode))
    throw InputError(path, "is not a regular file (device, FIFO or socket); refusing to replace it");
  if ((st.st_mode & 0222) == 0 || ::access(path.c_str(), W_OK) != 0)
    throw InputError(path, "is read-only; refusing to replace it (remove it or make it writable)");
}

// ".<name>.tmp-<pid>-<n>" -> pid, or 0 when the name is not one of ours.
long temp_owner(const std::string& name) {
  if (name.size() < 2 || name[0] != '.') return 0;
  auto at = name.rfind(".tmp-");
  if (at == std::string::npos || at == 0) return 0;
  const char* p = name.c_str() + at + 5;
  char* end = nullptr;
  long pid = std::strtol(p, &end, 10);
  if (pid <= 0 || *end != '-' || !end[1]) return 0;
  for (const char* q = end + 1; *q; ++q)
    if (*q < '0' || *q > '9') return 0;
  return pid;
}
}  // namespace

int clean_stale_temp_files(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    long pid = temp_owner(name);
    if (pid <= 0) continue;
    // Only when the writer is gone (kill(pid, 0) fails with ESRCH): a live
    // process may be writing it right now.
    if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    if (it->is_regular_file(rm) && fs::remove(it->path(), rm)) ++removed;
  }
  return removed;
}

void AtomicFile::fail_after_bytes_for_testing(int64_t n) { g_fail_after = n; }

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  if (path.empty()) throw InputError("(empty path)", "no output file given");
  fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) throw InputError(path, "is a directory");
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) throw InputError(path, "directory '" + dir.string() + "' does not exist");
  check_replaceable(path);
  // Temporaries of writers killed mid-write (kill -9, power loss) would stay forever.
  clean_stale_temp_files(dir.string());
  // Hidden, unique per process and call; built by appends (GCC 12 warns
  // falsely on chained operator+ here).
  std::string leaf = ".";
  leaf.append(p.filename().string());
  leaf.append(".tmp-");
  leaf.append(std::to_string(getpid()));
  leaf.append("-");
  leaf.append(std::to_string(g_counter++));
  temp_ = (dir / leaf).string();
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError(path, "cannot create a file in '" + dir.string() + "': " + errno_text());
  buf_.reserve(1 << 16);
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(temp_.c_str());
  }
}

void AtomicFile::flush() {
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(path_, "write failed: " + errno_text());
    }
    off += size_t(n);
  }
  buf_.clear();
}

void AtomicFile::write(const void* data, size_t n) {
  PCHECK(!committed_, "AtomicFile::write after commit");
  int64_t limit = g_fail_after.load();
  if (limit >= 0 && int64_t(written_ + n) > limit)
    throw InputError(path_, "write failed: No space left on device (simulated)");
  const char* p = static_cast<const char*>(data);
  if (buf_.size() + n > buf_.capacity()) flush();
  if (n >= buf_.capacity()) {
    buf_.assign(p, p + n);  // large block: write through
    flush();
  } else {
    buf_.insert(buf_.end(), p, p + n);
  }
  written_ += n;
}

void AtomicFile::commit() {
  PCHECK(!committed_, "AtomicFile committed twice");
  flush();
  if (::fsync(fd_) != 0) throw InputError(path_, "fsync failed: " + errno_text());
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw InputError(path_, "close failed: " + errno_text());
  }
  fd_ = -1;
  check_replaceable(path_);  // again: the target may have changed while we wrote
  if (::rename(temp_.c_str(), path_.c_str()) != 0) throw InputError(path_, "cannot replace the file: " + errno_text());
  committed_ = true;
  // Persist the directory entry; failure here does not undo a complete file.
  fs::path dir = fs::path(path_).has_parent_path() ? fs::path(path_).parent_path() : ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomically(const std::string& path, const std::function<void(AtomicFile&)>& body) {
  AtomicFile f(path);
  body(f);
  f.commit();
}

}  // namespace perceptra
