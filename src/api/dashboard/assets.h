// The dashboard's files, compiled into the binary (no CDN: clusters often
// run without internet): the page, its script and style, and uPlot (npm,
// pinned by web/package-lock.json). Each is held as is and gzip-compressed;
// the table is generated at build time by embed_assets.cmake.
// Threading: constant data, any thread.
#pragma once

#include <span>
#include <string_view>

namespace dkv::api::dashboard {

struct Asset {
  std::string_view path;  // "/" or "/dashboard/assets/<file>".
  std::string_view content_type;
  std::string_view identity;
  std::string_view gzip;
};

std::span<const Asset> dashboard_assets();

}  // namespace dkv::api::dashboard
