#!/usr/bin/env bash
# Prints the temporary directory for one `make test` run. The tests start ~200 engines, each
# creating its ClickHouse tables (~105 DDL statements, every one fsyncing metadata) and
# fsyncing its spool: on a RAM-backed tmpfs the migrations take ~45 % less time than on this
# machine's ext4 /tmp (measured: 1.37 vs 2.42 s an engine). So: a fresh directory under
# /dev/shm when it is a writable tmpfs with at least 4 GiB free (a container's default 64 MB
# /dev/shm is not), else the usual TMPDIR. The caller removes a directory it was given.
set -euo pipefail
shm=/dev/shm
if [ -d "$shm" ] && [ -w "$shm" ] && [ "$(stat -f -c %T "$shm" 2>/dev/null)" = tmpfs ]; then
  free_kb=$(df -Pk "$shm" 2>/dev/null | awk 'NR == 2 { print $4 }' || true)
  if [ "${free_kb:-0}" -ge $((4 * 1024 * 1024)) ]; then
    mktemp -d "$shm/clicktrail-test.XXXXXX"
    exit 0
  fi
fi
echo "${TMPDIR:-/tmp}"
