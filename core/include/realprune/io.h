/***
 * realprune/io.h - files written safely and checksums.
 *
 * rp_file_write_atomic writes to a temporary file in the same folder,
 * flushes it to disk (fsync), renames it over `path` and syncs the folder:
 * a reader sees the old file or the new one, never a partial one, even if
 * the process is killed or the disk fills up mid-write (the old file stays).
 * The temporary file is `path`.tmp.PID; after a successful write, such files
 * of processes that no longer exist (killed mid-write) are removed.
 *
 * @module core.io
 */
#ifndef REALPRUNE_IO_H
#define REALPRUNE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "realprune/status.h"

rp_status rp_file_write_atomic(const char *path, const void *data, size_t len);
/*** Creates the folder `path` and any missing parents (like mkdir -p, mode 0777
 * less the umask). An existing folder is fine; an existing file, or a parent
 * that cannot be created, is an error naming the folder.
 * @function rp_mkdir_p */
rp_status rp_mkdir_p(const char *path);
/* A folder's entries, "." files left out, sorted by name (strcmp). */
struct rp_dir_entry {
    char *name;
    int is_dir;
};
/*** *out receives *n entries (free with rp_dir_list_free); a folder that
 * cannot be opened is an RP_EIO error naming it.
 * @function rp_dir_list */
rp_status rp_dir_list(struct rp_dir_entry **out, int64_t *n, const char *path);
void rp_dir_list_free(struct rp_dir_entry *entries, int64_t n);

/*** Writes a width x height RGB image (3 bytes per pixel, rows top down) as PNG.
 * @function rp_png_write */
rp_status rp_png_write(const char *path, int width, int height, const unsigned char *rgb);
/*** The filled rectangles of `text` in a small bitmap font (stb_easy_font: about
 * 6 px per character, 7 px high): up to `max` rectangles as x0, y0, x1, y1
 * floats into rects; returns how many the text has (more than max: cut).
 * @function rp_text_rects */
int64_t rp_text_rects(float *rects, int64_t max, const char *text);

/* CRC-32 (the zlib / PNG polynomial) of data, continuing from crc (0 to start). */
uint32_t rp_crc32(uint32_t crc, const void *data, size_t len);

/*** n floats as little-endian float32 bytes (the checkpoint format's order on
 * every machine): dst holds 4*n bytes.
 * @function rp_f32_to_le */
void rp_f32_to_le(void *dst, const float *src, int64_t n);
/*** n floats from little-endian float32 bytes (the inverse of rp_f32_to_le).
 * @function rp_f32_from_le */
void rp_f32_from_le(float *dst, const void *src, int64_t n);

#endif
