/*
 * realprune/io.h - files written safely and checksums.
 *
 * rp_file_write_atomic writes to a temporary file in the same folder,
 * flushes it to disk (fsync), renames it over `path` and syncs the folder:
 * a reader sees the old file or the new one, never a partial one, even if
 * the process is killed or the disk fills up mid-write (the old file stays).
 * The temporary file is `path`.tmp.PID; after a successful write, such files
 * of processes that no longer exist (killed mid-write) are removed.
 */
#ifndef REALPRUNE_IO_H
#define REALPRUNE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "realprune/status.h"

rp_status rp_file_write_atomic(const char *path, const void *data, size_t len);
/* Creates the folder `path` and any missing parents (like mkdir -p, mode 0777
 * less the umask). An existing folder is fine; an existing file, or a parent
 * that cannot be created, is an error naming the folder. */
rp_status rp_mkdir_p(const char *path);
/* CRC-32 (the zlib / PNG polynomial) of data, continuing from crc (0 to start). */
uint32_t rp_crc32(uint32_t crc, const void *data, size_t len);

#endif
