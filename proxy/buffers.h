// Pooled, reference-counted read chunks and pooled write batches for one event loop.
//
// Reads land in fixed-size Chunks taken from the worker's BufferPool (no allocation per
// read once the pool is warm). Forwarded bytes are written straight out of the chunk they
// were read into: a WriteBatch holds a reference on every chunk its iovecs point into and
// drops them when the write completes. Reference counts are plain integers: a pool and
// its chunks belong to one loop thread.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse {

class BufferPool;

struct Chunk {
  static constexpr size_t kSize = 64 * 1024;
  uint32_t refs = 0;
  Chunk* next_free = nullptr;
  char data[kSize];
};

// Hands out consecutive regions of one chunk to successive reads of a socket, so small
// reads share a chunk instead of pinning 64 KiB each. The reader keeps one reference
// while the chunk has room; every completed read gives the consumer its own reference.
class ReadCursor {
 public:
  // Region for the next read (acquires a fresh chunk when needed).
  uv_buf_t next(BufferPool& pool);
  // Records that nread bytes landed at the start of the last region. Returns the chunk
  // and data pointer; the caller receives one new reference.
  Chunk* commit(BufferPool& pool, size_t nread, const char** data);
  void release(BufferPool& pool);

 private:
  static constexpr size_t kMinRoom = 8 * 1024;
  Chunk* chunk_ = nullptr;
  size_t fill_ = 0;
};

class BufferPool {
 public:
  explicit BufferPool(size_t keep_free = 256) : keep_free_(keep_free) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  Chunk* acquire();  // refs == 1
  void ref(Chunk* c) { ++c->refs; }
  void unref(Chunk* c);

  size_t outstanding() const { return outstanding_; }
  size_t peak_outstanding() const { return peak_; }
  void reset_peak() { peak_ = outstanding_; }

 private:
  Chunk* free_ = nullptr;
  size_t free_count_ = 0;
  size_t keep_free_;
  size_t outstanding_ = 0;
  size_t peak_ = 0;
};

// One uv_write's worth of output: copied bytes (heads, chunk-size lines) and
// zero-copy spans of pooled chunks, in order.
class WriteBatch {
 public:
  using DoneFn = void (*)(void* owner, WriteBatch* batch, int status);

  void append_copy(std::string_view bytes);
  void append_span(BufferPool& pool, Chunk* chunk, const char* p, size_t n);
  bool empty() const { return segments_.empty(); }
  size_t bytes() const { return bytes_; }

  // Starts the write; `done` runs from the write callback (also with UV_ECANCELED when
  // the stream is closed first). Returns a libuv error if the write could not start, in
  // which case `done` will not run and the caller must release the batch.
  int submit(uv_stream_t* stream, void* owner, DoneFn done);

  // Drops chunk references and clears for reuse.
  void reset(BufferPool& pool);

 private:
  friend class BatchPool;
  struct Segment {
    const char* ptr;  // nullptr: bytes live in scratch_ at offset
    size_t offset;
    size_t len;
  };
  static void on_write(uv_write_t* req, int status);

  uv_write_t req_{};
  std::vector<Segment> segments_;
  std::vector<uv_buf_t> bufs_;
  std::vector<Chunk*> refs_;
  std::string scratch_;
  size_t bytes_ = 0;
  void* owner_ = nullptr;
  DoneFn done_ = nullptr;
  WriteBatch* next_free_ = nullptr;
};

class BatchPool {
 public:
  explicit BatchPool(BufferPool& chunks) : chunks_(chunks) {}
  ~BatchPool();
  BatchPool(const BatchPool&) = delete;
  BatchPool& operator=(const BatchPool&) = delete;
  WriteBatch* acquire();
  void release(WriteBatch* b);

 private:
  BufferPool& chunks_;
  WriteBatch* free_ = nullptr;
  size_t free_count_ = 0;
};

}  // namespace gatehouse
