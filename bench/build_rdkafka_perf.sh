#!/bin/bash
# Builds rdkafka_performance (the example program shipped with the librdkafka that rdkafka-sys
# vendors) into target/rdkafka_performance, linked against cargo's static librdkafka, zstd and
# vendored OpenSSL. Needs any cargo build of rdkafka-sys under target/ first (for example
# `cargo test --no-run`). Used by bench/consume_librdkafka.sh and bench/compare.py.
# Run from the repo root; does nothing when the program exists already.
set -u
PERF=${PERF:-target/rdkafka_performance}
[ -x "$PERF" ] && exit 0
config=$(ls -d target/*/build/rdkafka-sys-*/out/config.h 2>/dev/null | head -1)
[ -n "$config" ] || { echo "no rdkafka-sys build under target/: cargo test --no-run" >&2; exit 1; }
src=$(dirname "$config"); lib=$src/src/librdkafka-static.a
[ -f "$lib" ] || lib=$src/src/librdkafka.a
ssl=$(ls -d target/*/build/openssl-sys-*/out/openssl-build/install/lib 2>/dev/null | head -1)
zstd=$(ls target/*/build/zstd-sys-*/out/libzstd.a 2>/dev/null | head -1)
[ -n "$zstd" ] || { echo "no zstd-sys build under target/" >&2; exit 1; }
cc -O2 -o "$PERF" "$src/examples/rdkafka_performance.c" -I"$src/src" "$lib" "$zstd" \
   ${ssl:+$ssl/libssl.a $ssl/libcrypto.a} -lpthread -lm -ldl -lz -lrt
