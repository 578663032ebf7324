// Test helper: a store's image as Store::ImageReader streams it, so that
// tests can compare the streamed form (snapshots sent to peers, backups)
// with dump()'s.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>

#include "kv/store.h"

namespace dkv::kv {

// Streams `store`'s image in chunks of `chunk_bytes`, checking that every
// chunk but the last is full and that the whole has the announced size.
// A failure is a gtest failure; the caller sees the bytes read so far.
inline std::string streamed_image(const Store& store, std::size_t chunk_bytes) {
  std::unique_ptr<Store::ImageReader> reader;
  util::Status s = store.open_image_reader(chunk_bytes, &reader);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  if (!s.is_ok()) return {};
  std::string streamed;
  for (bool done = false; !done;) {
    std::string chunk;
    s = reader->next(&chunk, &done);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    if (!s.is_ok()) break;
    EXPECT_LE(chunk.size(), chunk_bytes);
    if (!done) {
      EXPECT_EQ(chunk.size(), chunk_bytes);
    }
    streamed += chunk;
  }
  EXPECT_EQ(streamed.size(), reader->size_bytes()) << "chunk_bytes=" << chunk_bytes;
  return streamed;
}

// Expects every chunk size in `chunk_sizes` to stream exactly `image`.
inline void expect_streams_as(const Store& store, const std::string& image,
                              std::initializer_list<std::size_t> chunk_sizes) {
  for (std::size_t chunk_bytes : chunk_sizes) {
    EXPECT_EQ(streamed_image(store, chunk_bytes), image) << "chunk_bytes=" << chunk_bytes;
  }
}

}  // namespace dkv::kv
