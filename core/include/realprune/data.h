/***
 * realprune/data.h - reading data sets and assembling batches.
 *
 * Readers never trust a header: a file is read in chunks into a growing
 * buffer (raw or gzip, through zlib) and the header's sizes are checked
 * against the bytes actually there before anything else is done.  Every
 * error names the file.
 *
 *     struct rp_bytes img;
 *     if (rp_idx_read(&img, "train-images-idx3-ubyte.gz") != RP_OK) ...
 *     // img.ndim == 3, img.shape = {60000, 28, 28}, img.data: uint8
 *     rp_bytes_free(&img);
 *
 * @module core.data
 */
#ifndef REALPRUNE_DATA_H
#define REALPRUNE_DATA_H

#include <stdint.h>

#include "realprune/rng.h"
#include "realprune/tensor.h"

/* An n-dimensional array of bytes (images, labels). */
struct rp_bytes {
    uint8_t *data;
    int ndim;
    int64_t shape[RP_MAX_DIMS];
    int64_t numel;
};

void rp_bytes_free(struct rp_bytes *b);

/* Largest file a reader accepts (decompressed): 8 GiB. */
#define RP_MAX_FILE_BYTES ((int64_t)8 << 30)

/*** Reads a whole file, raw or gzip-compressed, into memory (malloc'd *data).
 * @function rp_file_read */
rp_status rp_file_read(uint8_t **data, int64_t *size, const char *path);

/*** IDX (MNIST format) file of unsigned bytes, raw or .gz; 1 to 4 dimensions.
 * @function rp_idx_read */
rp_status rp_idx_read(struct rp_bytes *out, const char *path);

/*** CIFAR binary batch: records of `label_bytes` label bytes and 3x32x32 pixels.
 * images: N x 3 x 32 x 32; labels: N (the last label byte of each record,
 * i.e. the fine label for CIFAR-100).
 * @function rp_cifar_read */
rp_status rp_cifar_read(struct rp_bytes *images, struct rp_bytes *labels, const char *path,
                        int label_bytes);

/*** The same readers on bytes already in memory (`name` is used in messages).
 * They take ownership of buf, a malloc'd block, and free it in every case.
 * @function rp_idx_parse */
rp_status rp_idx_parse(struct rp_bytes *out, uint8_t *buf, int64_t len, const char *name);
rp_status rp_cifar_parse(struct rp_bytes *images, struct rp_bytes *labels, uint8_t *buf,
                         int64_t len, const char *name, int label_bytes);
rp_status rp_image_decode(struct rp_bytes *out, uint8_t *buf, int64_t len, const char *name,
                          int channels, int size);

/*** An image file (PNG, JPEG, BMP, ... through stb_image) as `channels`
 * (1 or 3) x size x size bytes, resized by bilinear interpolation.
 * @function rp_image_read */
rp_status rp_image_read(struct rp_bytes *out, const char *path, int channels, int size);

/*** Per-channel mean and standard deviation of pixel values / 255 over every
 * item of `data` (items of `channels` planes of `plane` bytes; len bytes in
 * all, at least one item); the deviation is at least 1e-6.
 * @function rp_byte_stats */
rp_status rp_byte_stats(double mean[], double std[], const uint8_t *data, int64_t len, int channels,
                        int64_t plane);

/*** dst[i] (C x H x W floats) = (src[idx[i]] / 255 - mean[c]) / std[c] for the
 * n items of `src` (N x C x H x W bytes) listed by 0-based idx.
 * @function rp_gather_images */
rp_status rp_gather_images(struct rp_tensor *dst, const uint8_t *src, int64_t count, int channels,
                           int64_t height, int64_t width, const int64_t *idx, int64_t n,
                           const float *mean, const float *std);

/* In place on a batch N x C x H x W: a random shift of up to `pad` pixels
 * in each direction with zero fill (random crop of the padded image), and a
 * horizontal flip with probability 1/2 if `flip`. */
rp_status rp_augment_crop_flip(struct rp_tensor *batch, int pad, int flip, struct rp_rng *g);

#endif
