#include "proxy/buffers.h"

#include <cassert>
#include <cstdlib>

namespace gatehouse {

BufferPool::~BufferPool() {
  while (free_) {
    Chunk* c = free_;
    free_ = c->next_free;
    delete c;
  }
}

Chunk* BufferPool::acquire() {
  Chunk* c = free_;
  if (c) {
    free_ = c->next_free;
    --free_count_;
  } else {
    c = new Chunk;
  }
  c->refs = 1;
  c->next_free = nullptr;
  ++outstanding_;
  if (outstanding_ > peak_) peak_ = outstanding_;
  return c;
}

void BufferPool::unref(Chunk* c) {
  assert(c->refs > 0);
  if (--c->refs != 0) return;
  --outstanding_;
  if (free_count_ >= keep_free_) {
    delete c;
    return;
  }
  c->next_free = free_;
  free_ = c;
  ++free_count_;
}

uv_buf_t ReadCursor::next(BufferPool& pool) {
  if (chunk_ && Chunk::kSize - fill_ < kMinRoom) release(pool);
  if (!chunk_) {
    chunk_ = pool.acquire();
    fill_ = 0;
  }
  return uv_buf_init(chunk_->data + fill_, static_cast<unsigned>(Chunk::kSize - fill_));
}

Chunk* ReadCursor::commit(BufferPool& pool, size_t nread, const char** data) {
  assert(chunk_ && fill_ + nread <= Chunk::kSize);
  Chunk* c = chunk_;
  *data = c->data + fill_;
  fill_ += nread;
  pool.ref(c);
  if (Chunk::kSize - fill_ < kMinRoom) release(pool);
  return c;
}

void ReadCursor::release(BufferPool& pool) {
  if (chunk_) pool.unref(chunk_);
  chunk_ = nullptr;
  fill_ = 0;
}

void WriteBatch::append_copy(std::string_view bytes) {
  if (bytes.empty()) return;
  segments_.push_back({nullptr, scratch_.size(), bytes.size()});
  scratch_.append(bytes);
  bytes_ += bytes.size();
}

void WriteBatch::append_span(BufferPool& pool, Chunk* chunk, const char* p, size_t n) {
  if (n == 0) return;
  if (refs_.empty() || refs_.back() != chunk) {
    pool.ref(chunk);
    refs_.push_back(chunk);
  }
  // Merge with the previous span when contiguous in the same chunk.
  if (!segments_.empty() && segments_.back().ptr &&
      segments_.back().ptr + segments_.back().len == p) {
    segments_.back().len += n;
  } else {
    segments_.push_back({p, 0, n});
  }
  bytes_ += n;
}

int WriteBatch::submit(uv_stream_t* stream, void* owner, DoneFn done) {
  bufs_.clear();
  for (const auto& s : segments_) {
    const char* base = s.ptr ? s.ptr : scratch_.data() + s.offset;
    bufs_.push_back(uv_buf_init(const_cast<char*>(base), static_cast<unsigned>(s.len)));
  }
  owner_ = owner;
  done_ = done;
  req_.data = this;
  return uv_write(&req_, stream, bufs_.data(), static_cast<unsigned>(bufs_.size()), on_write);
}

void WriteBatch::on_write(uv_write_t* req, int status) {
  auto* b = static_cast<WriteBatch*>(req->data);
  b->done_(b->owner_, b, status);
}

void WriteBatch::reset(BufferPool& pool) {
  for (Chunk* c : refs_) pool.unref(c);
  refs_.clear();
  segments_.clear();
  bufs_.clear();
  scratch_.clear();
  bytes_ = 0;
  owner_ = nullptr;
  done_ = nullptr;
}

BatchPool::~BatchPool() {
  while (free_) {
    WriteBatch* b = free_;
    free_ = b->next_free_;
    delete b;
  }
}

WriteBatch* BatchPool::acquire() {
  WriteBatch* b = free_;
  if (b) {
    free_ = b->next_free_;
    --free_count_;
    b->next_free_ = nullptr;
    return b;
  }
  return new WriteBatch;
}

void BatchPool::release(WriteBatch* b) {
  b->reset(chunks_);
  if (free_count_ >= 1024 || b->scratch_.capacity() > 256 * 1024) {
    delete b;
    return;
  }
  b->next_free_ = free_;
  free_ = b;
  ++free_count_;
}

}  // namespace gatehouse
