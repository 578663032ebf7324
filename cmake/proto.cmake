# Generates C++ from proto/ (our protos) and the google/api annotation protos
# shipped by Debian's golang-github-gogo-googleapis-dev. Generated code lives in
# the build tree only (a build product, never committed).
set(DKV_GOOGLEAPIS_DIR "/usr/share/gocode/src/github.com/gogo/googleapis"
    CACHE PATH "Directory holding google/api/annotations.proto")
find_program(PROTOC protoc REQUIRED)
set(DKV_PROTO_OUT "${CMAKE_BINARY_DIR}/gen")
file(MAKE_DIRECTORY "${DKV_PROTO_OUT}")

set(DKV_GOOGLE_PROTOS google/api/annotations.proto google/api/http.proto)
file(GLOB_RECURSE DKV_OWN_PROTOS RELATIVE "${CMAKE_SOURCE_DIR}/proto" "${CMAKE_SOURCE_DIR}/proto/*.proto")

set(DKV_OWN_PROTOS_ABS)
foreach(p ${DKV_OWN_PROTOS})
  list(APPEND DKV_OWN_PROTOS_ABS "${CMAKE_SOURCE_DIR}/proto/${p}")
endforeach()

set(DKV_PROTO_SRCS)
set(DKV_GRPC_SRCS)
foreach(p ${DKV_GOOGLE_PROTOS} ${DKV_OWN_PROTOS})
  string(REGEX REPLACE "\\.proto$" "" base "${p}")
  list(APPEND DKV_PROTO_SRCS "${DKV_PROTO_OUT}/${base}.pb.cc")
endforeach()

# The headers are outputs too: an object that includes one (known to Ninja
# from its depfile) is then rebuilt in the same run that regenerates it, not
# left compiled against the old message layout (a changed proto once left a
# test reading a smaller StatusResponse than the library built).
list(TRANSFORM DKV_PROTO_SRCS REPLACE "\\.pb\\.cc$" ".pb.h" OUTPUT_VARIABLE DKV_PROTO_HDRS)
add_custom_command(
  OUTPUT ${DKV_PROTO_SRCS} ${DKV_PROTO_HDRS}
  COMMAND ${PROTOC} -I "${CMAKE_SOURCE_DIR}/proto" -I "${DKV_GOOGLEAPIS_DIR}"
          --cpp_out "${DKV_PROTO_OUT}" ${DKV_GOOGLE_PROTOS} ${DKV_OWN_PROTOS}
  DEPENDS ${DKV_OWN_PROTOS_ABS}
  COMMENT "Generating protobuf code"
  VERBATIM)
foreach(p ${DKV_OWN_PROTOS})
  set_property(SOURCE ${DKV_PROTO_SRCS} APPEND PROPERTY OBJECT_DEPENDS "${CMAKE_SOURCE_DIR}/proto/${p}")
endforeach()

# Generated code: no warnings, and in the sanitizer build (DKV_SANITIZE) no
# ASan/UBSan instrumentation either: protoc's output is not ours to check,
# and instrumenting it took about a twelfth of that build's compile time
# (etcd's rpc.pb.cc alone ~50 s). Mixing is safe for ASan and UBSan (as with the
# uninstrumented system libprotobuf); TSan builds keep instrumenting it, so
# that accesses inside messages stay visible to the race detector.
function(dkv_generated_code target)
  target_compile_options(${target} PRIVATE -w)
  if(DKV_SANITIZE)
    target_compile_options(${target} PRIVATE -fno-sanitize=all)
  endif()
endfunction()

# Messages only (no gRPC): usable by kv/, node/ and the REST gateway.
add_library(dkv_proto STATIC ${DKV_PROTO_SRCS})
target_include_directories(dkv_proto SYSTEM PUBLIC "${DKV_PROTO_OUT}")
target_link_libraries(dkv_proto PUBLIC PkgConfig::PROTOBUF)
dkv_generated_code(dkv_proto)

if(NOT DKV_UNIT_ONLY)
  find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
  set(DKV_SERVICE_PROTOS)
  foreach(p ${DKV_OWN_PROTOS})
    file(READ "${CMAKE_SOURCE_DIR}/proto/${p}" content)
    if(content MATCHES "\nservice ")
      list(APPEND DKV_SERVICE_PROTOS "${p}")
      string(REGEX REPLACE "\\.proto$" "" base "${p}")
      list(APPEND DKV_GRPC_SRCS "${DKV_PROTO_OUT}/${base}.grpc.pb.cc")
    endif()
  endforeach()
  list(TRANSFORM DKV_GRPC_SRCS REPLACE "\\.grpc\\.pb\\.cc$" ".grpc.pb.h" OUTPUT_VARIABLE DKV_GRPC_HDRS)
  add_custom_command(
    OUTPUT ${DKV_GRPC_SRCS} ${DKV_GRPC_HDRS}
    COMMAND ${PROTOC} -I "${CMAKE_SOURCE_DIR}/proto" -I "${DKV_GOOGLEAPIS_DIR}"
            --grpc_out "${DKV_PROTO_OUT}" --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN}
            ${DKV_SERVICE_PROTOS}
    DEPENDS ${DKV_OWN_PROTOS_ABS}
    COMMENT "Generating gRPC code"
    VERBATIM)
  foreach(p ${DKV_SERVICE_PROTOS})
    set_property(SOURCE ${DKV_GRPC_SRCS} APPEND PROPERTY OBJECT_DEPENDS "${CMAKE_SOURCE_DIR}/proto/${p}")
  endforeach()
  # Services (gRPC stubs): only the few files that need gRPC link this.
  add_library(dkv_grpc_proto STATIC ${DKV_GRPC_SRCS})
  target_link_libraries(dkv_grpc_proto PUBLIC dkv_proto PkgConfig::GRPCPP)
  dkv_generated_code(dkv_grpc_proto)
endif()



# etcd's v3 API protos from Debian's golang-etcd-server-dev (rpc.proto, kv.proto,
# auth.proto) and the gogo.proto they import (golang-github-gogo-protobuf-dev);
# protoc's C++ generator ignores the gogo options. A library of their own, not
# in dkv_proto, so that targets which need only dkv's protos stay without them.
set(DKV_ETCD_PROTO_ROOT "/usr/share/gocode/src/go.etcd.io"
    CACHE PATH "Directory holding etcd/etcdserver/etcdserverpb/rpc.proto")
set(DKV_GOGO_PROTO_ROOT "/usr/share/gocode/src/github.com/gogo/protobuf"
    CACHE PATH "Directory holding gogoproto/gogo.proto")
set(DKV_ETCD_PROTOS etcd/mvcc/mvccpb/kv.proto etcd/auth/authpb/auth.proto
    etcd/etcdserver/etcdserverpb/rpc.proto)
set(DKV_ETCD_PROTO_SRCS "${DKV_PROTO_OUT}/gogoproto/gogo.pb.cc")
foreach(p ${DKV_ETCD_PROTOS})
  string(REGEX REPLACE "\\.proto$" "" base "${p}")
  list(APPEND DKV_ETCD_PROTO_SRCS "${DKV_PROTO_OUT}/${base}.pb.cc")
endforeach()
add_custom_command(
  OUTPUT ${DKV_ETCD_PROTO_SRCS}
  COMMAND ${PROTOC} -I "${DKV_ETCD_PROTO_ROOT}" -I "${DKV_GOGO_PROTO_ROOT}" -I "${DKV_GOOGLEAPIS_DIR}"
          --cpp_out "${DKV_PROTO_OUT}" gogoproto/gogo.proto ${DKV_ETCD_PROTOS}
  COMMENT "Generating etcd protobuf code"
  VERBATIM)
add_library(dkv_etcd_proto STATIC ${DKV_ETCD_PROTO_SRCS})
target_link_libraries(dkv_etcd_proto PUBLIC dkv_proto)
dkv_generated_code(dkv_etcd_proto)

# etcd's services (KV, Watch, Lease, Cluster, Maintenance, Auth): gRPC stubs
# for the server side (api/) and for dkvctl, kept apart like dkv_grpc_proto.
set(DKV_ETCD_GRPC_SRCS)
if(NOT DKV_UNIT_ONLY)
  set(DKV_ETCD_GRPC_SRCS "${DKV_PROTO_OUT}/etcd/etcdserver/etcdserverpb/rpc.grpc.pb.cc")
  add_custom_command(
    OUTPUT ${DKV_ETCD_GRPC_SRCS}
    COMMAND ${PROTOC} -I "${DKV_ETCD_PROTO_ROOT}" -I "${DKV_GOGO_PROTO_ROOT}" -I "${DKV_GOOGLEAPIS_DIR}"
            --grpc_out "${DKV_PROTO_OUT}" --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN}
            etcd/etcdserver/etcdserverpb/rpc.proto
    COMMENT "Generating etcd gRPC code"
    VERBATIM)
  add_library(dkv_etcd_grpc_proto STATIC ${DKV_ETCD_GRPC_SRCS})
  target_link_libraries(dkv_etcd_grpc_proto PUBLIC dkv_etcd_proto PkgConfig::GRPCPP)
  dkv_generated_code(dkv_etcd_grpc_proto)
endif()
add_custom_target(proto-gen DEPENDS ${DKV_PROTO_SRCS} ${DKV_GRPC_SRCS} ${DKV_ETCD_PROTO_SRCS}
                                    ${DKV_ETCD_GRPC_SRCS})
